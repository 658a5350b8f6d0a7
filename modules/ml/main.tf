data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  glue_job_name       = "${var.name_prefix}-etl"
  glue_log_prefix     = "/aws-glue/jobs/${var.name_prefix}"
  glue_log_groups     = ["${local.glue_log_prefix}/output", "${local.glue_log_prefix}/error"]
  glue_script_key     = "${var.code_prefix}glue_job.py"
  glue_libs_key       = "${var.code_prefix}${basename(var.glue_libs_path)}"
  glue_workflow_name  = "${var.name_prefix}-etl"
  glue_workflow_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:workflow/${local.glue_workflow_name}"
  raw_object_rule     = "${var.name_prefix}-raw-object-created"
  catalog_database    = replace(var.name_prefix, "-", "_")
  log_group_arn       = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group"
  sagemaker_log_group = "${local.log_group_arn}:/aws/sagemaker/TrainingJobs"

  glue_arguments = merge(
    {
      "--job-language"                     = "python"
      "--job-bookmark-option"              = "job-bookmark-disable"
      "--enable-continuous-cloudwatch-log" = "true"
      "--enable-metrics"                   = "true"
      "--custom-logGroup-prefix"           = local.glue_log_prefix
      "--extra-py-files"                   = "s3://${var.artifacts_bucket}/${local.glue_libs_key}"
      "--RAW_BUCKET"                       = var.raw_bucket
      "--CLEANED_BUCKET"                   = var.cleaned_bucket
    },
    length(var.glue_additional_python_modules) > 0 ? { "--additional-python-modules" = join(",", var.glue_additional_python_modules) } : {},
    var.glue_extra_arguments,
  )

  # ECR pulls with the role are granted on this account's repositories only: the training image's own
  # repository when it lives in this account, every repository of this account in this region when no image
  # is named. An image in another account is a SageMaker prebuilt (framework) image, which SageMaker pulls
  # with its own service credentials, not the role's: nothing to grant.
  image_parts = var.training_image_uri == null ? null : regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.[^/]+/([^:@]+)", var.training_image_uri)
  training_repos = (
    local.image_parts == null ? ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"] :
    local.image_parts[0] == local.account_id ? ["arn:${local.partition}:ecr:${local.image_parts[1]}:${local.account_id}:repository/${local.image_parts[2]}"] :
    []
  )

  # Object and bucket writes the workload roles are explicitly denied on the artifacts bucket, whatever else
  # is attached to them later (an explicit Deny wins over any Allow).
  artifact_write_actions = ["s3:Put*", "s3:Delete*", "s3:Replicate*", "s3:RestoreObject", "s3:AbortMultipartUpload"]

  # A training job name is at most 63 characters; the schedule appends its execution ID (16 characters,
  # 32 allowed for) to keep every run's name unique.
  training_job_prefix = { for m in var.retraining_models : m => trimsuffix(substr("${var.name_prefix}-${m}", 0, 30), "-") }
}

################################################################################
# Glue code in the artifacts bucket (which no workload role may write)
################################################################################

resource "aws_s3_object" "glue_script" {
  bucket                 = var.artifacts_bucket
  key                    = local.glue_script_key
  source                 = var.glue_script_path
  source_hash            = filemd5(var.glue_script_path)
  content_type           = "text/x-python"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags
}

resource "aws_s3_object" "glue_libs" {
  bucket                 = var.artifacts_bucket
  key                    = local.glue_libs_key
  source                 = var.glue_libs_path
  source_hash            = filemd5(var.glue_libs_path)
  content_type           = "application/zip"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags

  lifecycle {
    precondition {
      condition     = !contains([var.raw_bucket_arn, var.cleaned_bucket_arn, var.models_bucket_arn], var.artifacts_bucket_arn)
      error_message = "artifacts_bucket must be a bucket of its own: the Glue and SageMaker roles write the cleaned and models buckets, and must never write the code the jobs and hosts run."
    }
  }
}

################################################################################
# Glue job, security configuration, catalog database, logs
################################################################################

resource "aws_glue_security_configuration" "this" {
  name = "${var.name_prefix}-etl"

  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.kms_key_arn
    }

    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.kms_key_arn
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.kms_key_arn
    }
  }
}

resource "aws_cloudwatch_log_group" "glue" {
  for_each = toset(local.glue_log_groups)

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_glue_catalog_database" "this" {
  count = var.create_catalog_database ? 1 : 0

  name        = local.catalog_database
  description = "creditscore tables over the cleaned bucket (${var.name_prefix})"
  tags        = var.tags
}

resource "aws_glue_job" "etl" {
  name                   = local.glue_job_name
  description            = "creditscore ETL: raw CSV to cleaned features, identity, transactions and quarantine (etl/glue_job.py)"
  role_arn               = aws_iam_role.glue.arn
  glue_version           = "5.0"
  execution_class        = "STANDARD"
  worker_type            = var.glue_worker_type
  number_of_workers      = var.glue_number_of_workers
  timeout                = var.glue_timeout_minutes
  max_retries            = var.glue_max_retries
  security_configuration = aws_glue_security_configuration.this.name
  default_arguments      = local.glue_arguments
  tags                   = var.tags

  command {
    name            = "glueetl"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_script.key}"
    python_version  = "3"
  }

  execution_property {
    max_concurrent_runs = 1
  }

  depends_on = [aws_cloudwatch_log_group.glue, aws_s3_object.glue_libs]
}

################################################################################
# Glue role
################################################################################

data "aws_iam_policy_document" "assume_glue" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "glue" {
  name                 = "${var.name_prefix}-glue-etl"
  description          = "creditscore Glue ETL: read raw, read/write cleaned, read its code"
  assume_role_policy   = data.aws_iam_policy_document.assume_glue.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "glue_service" {
  role       = aws_iam_role.glue.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSGlueServiceRole"
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "ListDataBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.raw_bucket_arn, var.cleaned_bucket_arn]
  }

  statement {
    sid       = "ReadRaw"
    actions   = ["s3:GetObject"]
    resources = ["${var.raw_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadWriteCleaned"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.cleaned_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadCode"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.code_prefix}*"]
  }

  statement {
    sid       = "ArtifactsAreReadOnly"
    effect    = "Deny"
    actions   = local.artifact_write_actions
    resources = [var.artifacts_bucket_arn, "${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "EncryptedLogs"
    actions   = ["logs:AssociateKmsKey", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = flatten([for g in local.glue_log_groups : ["${local.log_group_arn}:${g}", "${local.log_group_arn}:${g}:*"]])
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "glue-etl"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

################################################################################
# Event trigger: raw Object Created -> EventBridge rule -> Glue workflow (EVENT trigger) -> job
################################################################################

resource "aws_glue_workflow" "etl" {
  count = var.enable_event_trigger ? 1 : 0

  name                = local.glue_workflow_name
  description         = "Runs the ETL once per batch of raw objects (EventBridge Object Created events)"
  max_concurrent_runs = 1
  tags                = var.tags
}

resource "aws_glue_trigger" "raw_objects" {
  count = var.enable_event_trigger ? 1 : 0

  name          = "${var.name_prefix}-raw-objects"
  description   = "Starts the ETL after ${var.event_batch_size} raw objects or ${var.event_batch_window_seconds} s"
  type          = "EVENT"
  workflow_name = aws_glue_workflow.etl[0].name
  tags          = var.tags

  event_batching_condition {
    batch_size   = var.event_batch_size
    batch_window = var.event_batch_window_seconds
  }

  actions {
    job_name = aws_glue_job.etl.name
  }
}

resource "aws_cloudwatch_event_rule" "raw_object_created" {
  count = var.enable_event_trigger ? 1 : 0

  name        = local.raw_object_rule
  description = "Object Created in the raw bucket under an ETL source prefix"
  state       = "ENABLED"
  tags        = var.tags

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [var.raw_bucket] }
      object = { key = [for p in var.raw_event_key_prefixes : { prefix = p }] }
    }
  })
}

data "aws_iam_policy_document" "assume_events" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  count = var.enable_event_trigger ? 1 : 0

  name                 = "${var.name_prefix}-etl-events"
  description          = "EventBridge: notify the creditscore ETL workflow of raw objects"
  assume_role_policy   = data.aws_iam_policy_document.assume_events.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "NotifyWorkflow"
    actions   = ["glue:NotifyEvent"]
    resources = [local.glue_workflow_arn]
  }
}

resource "aws_iam_role_policy" "events" {
  count = var.enable_event_trigger ? 1 : 0

  name   = "notify-etl-workflow"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_target" "glue_workflow" {
  count = var.enable_event_trigger ? 1 : 0

  rule      = aws_cloudwatch_event_rule.raw_object_created[0].name
  target_id = "glue-etl-workflow"
  arn       = aws_glue_workflow.etl[0].arn
  role_arn  = aws_iam_role.events[0].arn

  # The EVENT trigger must exist before events reach the workflow.
  depends_on = [aws_glue_trigger.raw_objects]
}

################################################################################
# SageMaker execution role (training/sagemaker.py as a training job)
################################################################################

data "aws_iam_policy_document" "assume_sagemaker" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name                 = "${var.name_prefix}-sagemaker-training"
  description          = "creditscore SageMaker training: read cleaned data and the training source, write training outputs"
  assume_role_policy   = data.aws_iam_policy_document.assume_sagemaker.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ListCleaned"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.cleaned_bucket_arn]
  }

  statement {
    sid       = "ReadCleaned"
    actions   = ["s3:GetObject"]
    resources = ["${var.cleaned_bucket_arn}/*"]
  }

  statement {
    sid       = "ListTrainingOutputs"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.models_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.training_output_prefix}*"]
    }
  }

  # Training jobs write their outputs under training_output_prefix only: never a published model version
  # or pointer (publishing is a separate, reviewed step), never code.
  statement {
    sid       = "WriteTrainingOutputs"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.models_bucket_arn}/${var.training_output_prefix}*"]
  }

  statement {
    sid       = "ReadTrainingSource"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.training_source_key}"]
  }

  statement {
    sid       = "ArtifactsAreReadOnly"
    effect    = "Deny"
    actions   = local.artifact_write_actions
    resources = [var.artifacts_bucket_arn, "${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  # SageMaker encrypts the training volume through a grant on the key.
  statement {
    sid       = "VolumeKeyGrant"
    actions   = ["kms:CreateGrant"]
    resources = [var.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid       = "TrainingLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [local.sagemaker_log_group, "${local.sagemaker_log_group}:*"]
  }

  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }

  # GetAuthorizationToken has no resource to scope to; only needed when the role pulls from this account.
  dynamic "statement" {
    for_each = length(local.training_repos) > 0 ? [1] : []

    content {
      sid       = "RegistryLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.training_repos) > 0 ? [1] : []

    content {
      sid       = "PullTrainingImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = local.training_repos
    }
  }
}

# Built from the name (the role's path is /) so that the schedules' input and the PassRole policy are
# known at plan time; the reference to the role keeps the ordering.
locals {
  sagemaker_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${aws_iam_role.sagemaker.name}"
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "sagemaker-training"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

################################################################################
# Retraining schedule: EventBridge Scheduler -> sagemaker:CreateTrainingJob (universal target)
################################################################################

resource "aws_scheduler_schedule_group" "retraining" {
  count = var.enable_retraining_schedule ? 1 : 0

  name = "${var.name_prefix}-retraining"
  tags = var.tags
}

data "aws_iam_policy_document" "assume_scheduler" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.enable_retraining_schedule ? 1 : 0

  name                 = "${var.name_prefix}-retraining-scheduler"
  description          = "EventBridge Scheduler: start the creditscore retraining jobs"
  assume_role_policy   = data.aws_iam_policy_document.assume_scheduler.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartTraining"
    actions   = ["sagemaker:CreateTrainingJob", "sagemaker:AddTags"]
    resources = [for p in distinct(values(local.training_job_prefix)) : "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:training-job/${p}-*"]
  }

  # The schedules' input is encrypted with the data key.
  statement {
    sid       = "ScheduleKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "PassTrainingRole"
    actions   = ["iam:PassRole"]
    resources = [local.sagemaker_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.enable_retraining_schedule ? 1 : 0

  name   = "start-retraining"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "retraining" {
  for_each = var.enable_retraining_schedule ? toset(var.retraining_models) : toset([])

  name                         = each.key
  group_name                   = aws_scheduler_schedule_group.retraining[0].name
  description                  = "Retrain ${each.key} on ${var.training_data_prefix == null ? "" : var.training_data_prefix}"
  schedule_expression          = var.retraining_schedule_expression
  schedule_expression_timezone = var.retraining_schedule_timezone
  state                        = "ENABLED"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:aws:scheduler:::aws-sdk:sagemaker:createTrainingJob"
    role_arn = aws_iam_role.scheduler[0].arn

    # CreateTrainingJob request; <aws.scheduler.execution-id> makes each run's name unique.
    input = jsonencode({
      TrainingJobName = "${local.training_job_prefix[each.key]}-<aws.scheduler.execution-id>"
      RoleArn         = local.sagemaker_role_arn
      AlgorithmSpecification = {
        TrainingImage     = var.training_image_uri
        TrainingInputMode = "File"
      }
      HyperParameters = merge(
        {
          model                      = each.key
          sagemaker_program          = var.training_entry_point
          sagemaker_submit_directory = "s3://${var.artifacts_bucket}/${var.training_source_key}"
          sagemaker_region           = local.region
        },
        var.training_hyperparameters,
      )
      Environment = merge(
        {
          CREDITSCORE_AWS_ENDPOINT_URL = ""
          CREDITSCORE_AWS_REGION       = local.region
        },
        var.training_environment,
      )
      InputDataConfig = [
        {
          ChannelName = "train"
          ContentType = "application/x-parquet"
          DataSource = {
            S3DataSource = {
              S3DataType             = "S3Prefix"
              S3Uri                  = "s3://${var.cleaned_bucket}/${coalesce(var.training_data_prefix, "features/")}"
              S3DataDistributionType = "FullyReplicated"
            }
          }
        }
      ]
      OutputDataConfig = {
        S3OutputPath = "s3://${var.models_bucket}/${var.training_output_prefix}${each.key}/"
        KmsKeyId     = var.kms_key_arn
      }
      ResourceConfig = {
        InstanceType   = var.training_instance_type
        InstanceCount  = 1
        VolumeSizeInGB = var.training_volume_size_gb
        VolumeKmsKeyId = var.kms_key_arn
      }
      StoppingCondition = {
        MaxRuntimeInSeconds = var.training_max_runtime_seconds
      }
      Tags = [for k, v in merge(var.tags, { Model = each.key }) : { Key = k, Value = v }]
    })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }

  lifecycle {
    precondition {
      condition     = var.training_image_uri != null && var.training_data_prefix != null
      error_message = "The retraining schedule needs training_image_uri and training_data_prefix."
    }
  }
}
