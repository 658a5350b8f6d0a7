data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  glue_job_name       = "${var.name_prefix}-etl"
  glue_load_job_name  = "${var.name_prefix}-load-customers"
  glue_log_prefix     = "/aws-glue/jobs/${var.name_prefix}"
  glue_log_groups     = ["${local.glue_log_prefix}/output", "${local.glue_log_prefix}/error"]
  glue_script_key     = "${var.code_prefix}glue_job.py"
  glue_load_key       = "${var.code_prefix}glue_load_job.py"
  glue_libs_key       = "${var.code_prefix}${basename(var.glue_libs_path)}"
  score_job_name      = "${var.name_prefix}-score-book"
  score_script_key    = "${var.code_prefix}glue_score_job.py"
  score_wheel_key     = "${var.code_prefix}${basename(var.score_wheel_path)}"
  glue_workflow_name  = "${var.name_prefix}-etl"
  glue_workflow_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:workflow/${local.glue_workflow_name}"
  raw_object_rule     = "${var.name_prefix}-raw-object-created"
  catalog_database    = replace(var.name_prefix, "-", "_")
  log_group_arn       = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group"
  sagemaker_log_group = "${local.log_group_arn}:/aws/sagemaker/TrainingJobs"

  # Arguments both Glue jobs (the ETL and the load) run with: logs and metrics under the module's log groups,
  # no bookmarks, the libs zip, the cleaned bucket, extra pip modules. Each job adds its own below.
  glue_common_arguments = merge(
    {
      "--job-language"                     = "python"
      "--job-bookmark-option"              = "job-bookmark-disable"
      "--enable-continuous-cloudwatch-log" = "true"
      "--enable-metrics"                   = "true"
      "--custom-logGroup-prefix"           = local.glue_log_prefix
      "--extra-py-files"                   = "s3://${var.artifacts_bucket}/${local.glue_libs_key}"
      "--CLEANED_BUCKET"                   = var.cleaned_bucket
    },
    length(var.glue_additional_python_modules) > 0 ? { "--additional-python-modules" = join(",", var.glue_additional_python_modules) } : {},
  )

  glue_arguments = merge(
    local.glue_common_arguments,
    { "--RAW_BUCKET" = var.raw_bucket },
    var.glue_extra_arguments,
  )

  # The load job's --SNAPSHOT stays unset: etl/glue_load_job.py then loads the newest complete snapshot.
  glue_load_arguments = merge(
    local.glue_common_arguments,
    { "--CUSTOMERS_TABLE" = var.customers_table_name },
  )

  # The score-book job installs the creditscore wheel itself (not the libs zip): its entry points register
  # the scorers, and pip installs its pinned dependencies (torch's CPU build from the PyTorch index) with the
  # module's pins of what the wheel's base install lacks. INPUT, OUTPUT and MODEL come with each run.
  score_arguments = merge(
    {
      for k, v in local.glue_common_arguments : k => v
      if !contains(["--extra-py-files", "--additional-python-modules", "--CLEANED_BUCKET"], k)
    },
    {
      "--MODELS_BUCKET"                   = var.models_bucket
      "--additional-python-modules"       = join(",", concat(["s3://${var.artifacts_bucket}/${local.score_wheel_key}"], var.score_additional_python_modules))
      "--python-modules-installer-option" = "--extra-index-url ${var.score_torch_index_url}"
    },
  )
  score_input_arn  = "${var.cleaned_bucket_arn}/${var.score_input_prefix}"
  score_output_arn = "${var.cleaned_bucket_arn}/${var.score_output_prefix}"

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

  # A training job name is at most 63 characters of [a-zA-Z0-9-]. The state machine names each job
  # "{prefix}-{the last group of a fresh UUID}": 12 random hex characters (48 bits), so the prefix may take
  # 63 - 1 - 12 = 50. The prefix is "{name_prefix}-{model}" cut to 50 (tests/ml.tftest.hcl checks the bound).
  training_job_suffix_length = 12
  training_job_prefix        = { for m in var.retraining_models : m => trimsuffix(substr("${var.name_prefix}-${m}", 0, 63 - 1 - local.training_job_suffix_length), "-") }
  training_job_arns          = [for p in distinct(values(local.training_job_prefix)) : "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:training-job/${p}-*"]
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

resource "aws_s3_object" "glue_load_script" {
  bucket                 = var.artifacts_bucket
  key                    = local.glue_load_key
  source                 = var.glue_load_script_path
  source_hash            = filemd5(var.glue_load_script_path)
  content_type           = "text/x-python"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags
}

resource "aws_s3_object" "score_script" {
  bucket                 = var.artifacts_bucket
  key                    = local.score_script_key
  source                 = var.score_script_path
  source_hash            = filemd5(var.score_script_path)
  content_type           = "text/x-python"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags
}

# The wheel `make dist` builds, which the score-book job installs (--additional-python-modules).
resource "aws_s3_object" "score_wheel" {
  bucket                 = var.artifacts_bucket
  key                    = local.score_wheel_key
  source                 = var.score_wheel_path
  source_hash            = filemd5(var.score_wheel_path)
  content_type           = "application/zip"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags
}

# The training jobs' source (`make dist`), beside the Glue code and as read-only to the roles.
resource "aws_s3_object" "training_source" {
  count = var.training_source_path == null ? 0 : 1

  bucket                 = var.artifacts_bucket
  key                    = var.training_source_key
  source                 = var.training_source_path
  source_hash            = filemd5(var.training_source_path)
  content_type           = "application/gzip"
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

# The load: the snapshot the ETL wrote, from the cleaned bucket into the customers table, then the pointer
# s3://{cleaned}/snapshots/latest.json that retraining reads. Pure Python (pyarrow and boto3, no Spark work),
# but a glueetl job all the same: Glue's Python shell jobs stop at Python 3.9. Two G.1X workers are the
# smallest Spark job Glue runs.
resource "aws_glue_job" "load" {
  name                   = local.glue_load_job_name
  description            = "creditscore load: the newest cleaned snapshot into the customers table, then snapshots/latest.json (etl/glue_load_job.py)"
  role_arn               = aws_iam_role.glue.arn
  glue_version           = "5.0"
  execution_class        = "STANDARD"
  worker_type            = "G.1X"
  number_of_workers      = 2
  timeout                = var.glue_timeout_minutes
  max_retries            = var.glue_max_retries
  security_configuration = aws_glue_security_configuration.this.name
  default_arguments      = local.glue_load_arguments
  tags                   = var.tags

  command {
    name            = "glueetl"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_load_script.key}"
    python_version  = "3"
  }

  execution_property {
    max_concurrent_runs = 1
  }

  depends_on = [aws_cloudwatch_log_group.glue, aws_s3_object.glue_libs]
}

# Scoring a whole book: `creditscore score --engine spark` on Glue (training/batch/glue_score_job.py). No
# trigger: an operator (aws glue start-job-run) or a schedule of theirs starts it with --MODEL, --INPUT under
# the cleaned bucket's score_input_prefix and --OUTPUT under its score_output_prefix (docs/operations.md).
resource "aws_glue_job" "score_book" {
  name                   = local.score_job_name
  description            = "creditscore score-book: a file of applicants scored on Spark with a published model version, scores and rejects to s3 (training/batch/glue_score_job.py); started on demand"
  role_arn               = aws_iam_role.glue_score.arn
  glue_version           = "5.0"
  execution_class        = "STANDARD"
  worker_type            = var.score_worker_type
  number_of_workers      = var.score_number_of_workers
  timeout                = var.glue_timeout_minutes
  max_retries            = var.glue_max_retries
  security_configuration = aws_glue_security_configuration.this.name
  default_arguments      = local.score_arguments
  tags                   = var.tags

  command {
    name            = "glueetl"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.score_script.key}"
    python_version  = "3"
  }

  execution_property {
    max_concurrent_runs = var.score_max_concurrent_runs
  }

  depends_on = [aws_cloudwatch_log_group.glue, aws_s3_object.score_wheel]

  lifecycle {
    precondition {
      condition     = !startswith(var.score_input_prefix, var.score_output_prefix) && !startswith(var.score_output_prefix, var.score_input_prefix)
      error_message = "score_input_prefix and score_output_prefix must not contain one another: a run's output would replace books, or books be written by runs."
    }
  }
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
  description          = "creditscore Glue ETL and load: read raw, read/write cleaned, load the customers table, read its code"
  assume_role_policy   = data.aws_iam_policy_document.assume_glue.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "glue_service" {
  role       = aws_iam_role.glue.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSGlueServiceRole"
}

# What every Glue job of this module needs besides its data: its code (read-only), the key, its logs.
data "aws_iam_policy_document" "glue_common" {
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

data "aws_iam_policy_document" "glue" {
  source_policy_documents = [data.aws_iam_policy_document.glue_common.json]

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

  # The load job's writes (etl/glue_load_job.py): TransactWriteItems of Update (customer items) and
  # Put/Delete/ConditionCheck (identity-guard items, in the same table). IAM has no TransactWriteItems action:
  # DynamoDB authorises each item of a transaction by its own action. Then a parallel Scan (Select=COUNT)
  # checks the count; DescribeTable sizes the scan. The table only: no index, no other table.
  statement {
    sid       = "LoadCustomers"
    actions   = ["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Scan", "dynamodb:DescribeTable"]
    resources = [var.customers_table_arn]
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "glue-etl"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

################################################################################
# Score-book role: read the models and the books, write the scores; nothing else of the data
################################################################################

resource "aws_iam_role" "glue_score" {
  name                 = "${var.name_prefix}-glue-score"
  description          = "creditscore Glue score-book: read the models bucket and the cleaned bucket's books, write its scores, read its code"
  assume_role_policy   = data.aws_iam_policy_document.assume_glue.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "glue_score_service" {
  role       = aws_iam_role.glue_score.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSGlueServiceRole"
}

data "aws_iam_policy_document" "glue_score" {
  source_policy_documents = [data.aws_iam_policy_document.glue_common.json]

  # The registry lists a model's folder (a missing key is then a 404, not a 403).
  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.models_bucket_arn]
  }

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${var.models_bucket_arn}/*"]
  }

  # Spark lists the input (a file or a folder of parts) and the output folders it replaces.
  statement {
    sid       = "ListBooksAndScores"
    actions   = ["s3:ListBucket"]
    resources = [var.cleaned_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.score_input_prefix}*", "${var.score_output_prefix}*"]
    }
  }

  statement {
    sid       = "ReadBooks"
    actions   = ["s3:GetObject"]
    resources = ["${local.score_input_arn}*"]
  }

  # Spark's overwrite deletes the earlier parts of an output; its committer aborts unfinished uploads.
  statement {
    sid       = "WriteScores"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.score_output_arn}*"]
  }
}

resource "aws_iam_role_policy" "glue_score" {
  name   = "glue-score"
  role   = aws_iam_role.glue_score.id
  policy = data.aws_iam_policy_document.glue_score.json
}

################################################################################
# Event trigger: raw Object Created -> EventBridge rule -> Glue workflow (EVENT trigger) -> ETL job, then
# (CONDITIONAL trigger on the ETL's success) -> load job
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

# The same workflow run goes on to the load once the ETL has succeeded (a failed, stopped or timed-out ETL
# loads nothing). A trigger of the workflow only sees the workflow's own job runs: an ETL started by hand
# (aws glue start-job-run) is followed by a load started by hand.
resource "aws_glue_trigger" "load_after_etl" {
  count = var.enable_event_trigger ? 1 : 0

  name              = "${var.name_prefix}-load-after-etl"
  description       = "Starts the customers load when the workflow's ETL run has succeeded"
  type              = "CONDITIONAL"
  workflow_name     = aws_glue_workflow.etl[0].name
  start_on_creation = true
  tags              = var.tags

  predicate {
    logical = "ANY"

    conditions {
      job_name         = aws_glue_job.etl.name
      state            = "SUCCEEDED"
      logical_operator = "EQUALS"
    }
  }

  actions {
    job_name = aws_glue_job.load.name
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

  # The triggers must exist before events reach the workflow.
  depends_on = [aws_glue_trigger.raw_objects, aws_glue_trigger.load_after_etl]
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
  description          = "creditscore SageMaker training: read cleaned data and the training source, write training outputs, publish the retrained models"
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

  # Listing the models bucket, without an s3:prefix condition: S3 answers a GetObject of a missing key with
  # 404 only to a caller that may list the bucket (else 403), and the registry tells "not there yet" (a new
  # version's manifest, a model's first current.json) by that 404. Key names are all a listing shows.
  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.models_bucket_arn]

  }

  # SageMaker's own outputs (model.tar.gz, the output data) go under training_output_prefix.
  statement {
    sid       = "WriteTrainingOutputs"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.models_bucket_arn}/${var.training_output_prefix}*"]
  }

  # The job publishes what it trained (hyperparameter publish = "true" or "challenger"): the version under
  # {model}/{version}/ (its report under {model}/{version}/report/), then the pointer {model}/current.json
  # or the challenger record {model}/challenger.json (retraining_publish), written only when the registry's
  # quality gate lets the version in, with a conditional PutObject
  # (If-Match / If-None-Match: no extra action). Only the retrained models' folders, never another
  # model's, never code; no DeleteObject: versions are immutable.
  statement {
    sid       = "PublishRetrainedModels"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [for m in var.retraining_models : "${var.models_bucket_arn}/${m}/*"]
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

# Built from the name (the role's path is /) so that the state machine's definition and the PassRole policy
# are known at plan time; the reference to the role keeps the ordering.
locals {
  sagemaker_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${aws_iam_role.sagemaker.name}"
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "sagemaker-training"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

################################################################################
# Retraining: a Step Functions state machine reads snapshots/latest.json, then trains (and publishes) every
# model of retraining_models on that snapshot, one SageMaker training job each, alarming on each failure
################################################################################

locals {
  # Retraining exists only when there is an image to train with: without training_image_uri the module
  # deploys the ETL and the load, and no state machine, rule, schedule or alarm.
  retraining      = var.training_image_uri != null
  retraining_name = "${var.name_prefix}-retraining"
  # Built from the name, for the policies that start it (known at plan time, no cycle).
  retraining_arn       = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.retraining_name}"
  snapshot_pointer_key = "snapshots/latest.json"
  new_snapshot_rule    = "${var.name_prefix}-new-snapshot"
  # The rule Step Functions manages in the account to follow SageMaker training jobs (the .sync integration).
  sagemaker_sync_rule_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"

  # Literal text inside an intrinsic function's template (States.Format) escapes ' { } and \.
  sfn_literals = {
    for k, v in {
      features = "s3://${var.cleaned_bucket}/features/snapshot="
      outputs  = "s3://${var.models_bucket}/${var.training_output_prefix}"
      # An SNS subject is at most 100 characters: 30 + ": " + a model name (48) + " retraining failed" (18).
      subject = substr(var.name_prefix, 0, 30)
      prefix  = var.name_prefix
    } : k => replace(replace(replace(replace(v, "\\", "\\\\"), "'", "\\'"), "{", "\\{"), "}", "\\}")
  }

  # The Map's items: each model with the prefix of its training jobs' names.
  retraining_items = [for m in var.retraining_models : { model = m, jobPrefix = local.training_job_prefix[m] }]

  training_tags = concat(
    [for k, v in var.tags : { Key = k, Value = v } if !contains(["Model", "Snapshot"], k)],
    [{ Key = "Model", "Value.$" = "$.model" }, { Key = "Snapshot", "Value.$" = "$.snapshot" }],
  )

  # What each iteration does when its training job fails (or is gated): alarm (when there is a topic), then
  # record the failure and end the iteration, so that the other models' jobs go on.
  on_training_failure = var.alarm_topic_arn == null ? "ModelFailed" : "NotifyFailure"

  iteration_states = merge(
    {
      NameTrainingJob = {
        Type    = "Pass"
        Comment = "A unique job name: {prefix <= 50}-{the last group of a UUID, 12 hex characters} <= 63"
        Parameters = {
          "model.$"           = "$.model"
          "snapshot.$"        = "$.snapshot"
          "execution.$"       = "$.execution"
          "trainingJobName.$" = "States.Format('{}-{}', $.jobPrefix, States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4))"
        }
        Next = "Train"
      }
      Train = {
        Type     = "Task"
        Comment  = "Train, then publish through the registry's quality gate (training/sagemaker.py, publish=true: current, or challenger: the shadow challenger); a gated version fails the job with a FailureReason that starts with gated:"
        Resource = "arn:${local.partition}:states:::sagemaker:createTrainingJob.sync"
        Parameters = {
          "TrainingJobName.$" = "$.trainingJobName"
          RoleArn             = local.sagemaker_role_arn
          AlgorithmSpecification = {
            TrainingImage     = var.training_image_uri
            TrainingInputMode = "File"
          }
          HyperParameters = merge(
            {
              "model.$"                  = "$.model"
              publish                    = var.retraining_publish == "challenger" ? "challenger" : "true"
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
              CREDITSCORE_MODELS_BUCKET    = var.models_bucket
              CREDITSCORE_CLEANED_BUCKET   = var.cleaned_bucket
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
                  "S3Uri.$"              = "States.Format('${local.sfn_literals.features}{}/', $.snapshot)"
                  S3DataDistributionType = "FullyReplicated"
                }
              }
            }
          ]
          OutputDataConfig = {
            "S3OutputPath.$" = "States.Format('${local.sfn_literals.outputs}{}/', $.model)"
            KmsKeyId         = var.kms_key_arn
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
          Tags = local.training_tags
        }
        ResultSelector = {
          "TrainingJobStatus.$" = "$.TrainingJobStatus"
          "TrainingJobArn.$"    = "$.TrainingJobArn"
        }
        ResultPath = "$.training"
        # SageMaker stops the job at MaxRuntimeInSeconds; the hour above it covers provisioning and upload.
        TimeoutSeconds = var.training_max_runtime_seconds + 3600
        Catch = [
          {
            ErrorEquals = ["States.ALL"]
            ResultPath  = "$.error"
            Next        = local.on_training_failure
          }
        ]
        Next = "ModelTrained"
      }
      ModelTrained = {
        Type = "Pass"
        Parameters = {
          "model.$"           = "$.model"
          "snapshot.$"        = "$.snapshot"
          "trainingJobName.$" = "$.trainingJobName"
          status              = "SUCCEEDED"
        }
        End = true
      }
      ModelFailed = {
        Type    = "Pass"
        Comment = "Ends the iteration without failing the Map, so that the other models go on; CheckResults fails the execution afterwards"
        Parameters = {
          "model.$"           = "$.model"
          "snapshot.$"        = "$.snapshot"
          "trainingJobName.$" = "$.trainingJobName"
          status              = "FAILED"
          "error.$"           = "$.error"
        }
        End = true
      }
    },
    var.alarm_topic_arn == null ? {} : {
      NotifyFailure = {
        Type     = "Task"
        Comment  = "The alarm of one model's failed or gated run"
        Resource = "arn:${local.partition}:states:::sns:publish"
        Parameters = {
          TopicArn    = var.alarm_topic_arn
          "Subject.$" = "States.Format('${local.sfn_literals.subject}: {} retraining failed', $.model)"
          # $.error is the Catch's {Error, Cause}; the Cause of a failed training job is its description, whose
          # FailureReason starts with gated: when the registry's quality gate kept the new version from being current.
          "Message.$" = "States.Format('${local.sfn_literals.prefix}: retraining of model {} on snapshot {} failed. SageMaker training job: {}. Execution: {}. A FailureReason that starts with gated: means the version was published but the quality gate kept the current one: review it with creditscore models show, promote it by hand if wanted. Anything else is a failure: read the job FailureReason and its logs in /aws/sagemaker/TrainingJobs. Error: {}', $.model, $.snapshot, $.trainingJobName, $.execution, States.JsonToString($.error))"
        }
        ResultPath = null
        Catch = [
          {
            ErrorEquals = ["States.ALL"]
            ResultPath  = "$.notifyError"
            Next        = "ModelFailed"
          }
        ]
        Next = "ModelFailed"
      }
    },
  )

  retraining_definition = {
    Comment = "${var.name_prefix}: retrain ${join(", ", var.retraining_models)} on the snapshot s3://${var.cleaned_bucket}/${local.snapshot_pointer_key} names (modules/ml)"
    StartAt = "ReadSnapshotPointer"
    States = {
      ReadSnapshotPointer = {
        Type     = "Task"
        Comment  = "The newest loaded snapshot: {snapshot, features, loaded_at}, written last by the load job"
        Resource = "arn:${local.partition}:states:::aws-sdk:s3:getObject"
        Parameters = {
          Bucket = var.cleaned_bucket
          Key    = local.snapshot_pointer_key
        }
        ResultSelector = {
          "pointer.$" = "States.StringToJson($.Body)"
          models      = local.retraining_items
        }
        ResultPath = "$"
        Retry = [
          { ErrorEquals = ["S3.NoSuchKeyException"], MaxAttempts = 0 },
          { ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 3, BackoffRate = 2 },
        ]
        Next = "CheckSnapshot"
      }
      CheckSnapshot = {
        Type = "Choice"
        Choices = [
          { Variable = "$.pointer.snapshot", IsPresent = false, Next = "NoSnapshot" },
          { Variable = "$.pointer.snapshot", IsString = true, Next = "RetrainEachModel" },
        ]
        Default = "NoSnapshot"
      }
      NoSnapshot = {
        Type  = "Fail"
        Error = "Retraining.NoSnapshot"
        Cause = "s3://${var.cleaned_bucket}/${local.snapshot_pointer_key} names no snapshot"
      }
      RetrainEachModel = {
        Type      = "Map"
        Comment   = "Every model at once; a failed model ends its own iteration only (ModelFailed)"
        ItemsPath = "$.models"
        ItemSelector = {
          "model.$"     = "$$.Map.Item.Value.model"
          "jobPrefix.$" = "$$.Map.Item.Value.jobPrefix"
          "snapshot.$"  = "$.pointer.snapshot"
          "execution.$" = "$$.Execution.Id"
        }
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "NameTrainingJob"
          States          = local.iteration_states
        }
        ResultSelector = {
          "statuses.$" = "$[*].status"
          "models.$"   = "$"
        }
        ResultPath = "$.results"
        Next       = "CheckResults"
      }
      CheckResults = {
        Type = "Pass"
        Parameters = {
          "anyFailed.$" = "States.ArrayContains($.results.statuses, 'FAILED')"
        }
        ResultPath = "$.check"
        Next       = "AnyModelFailed"
      }
      AnyModelFailed = {
        Type    = "Choice"
        Choices = [{ Variable = "$.check.anyFailed", BooleanEquals = true, Next = "RetrainingFailed" }]
        Default = "Retrained"
      }
      RetrainingFailed = {
        Type  = "Fail"
        Error = "Retraining.ModelFailed"
        Cause = "At least one model failed or was gated: see results.models in this execution, each model's alarm and its SageMaker training job's FailureReason"
      }
      Retrained = {
        Type = "Succeed"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "retraining" {
  count = local.retraining ? 1 : 0

  # Under /aws/vendedlogs/: Step Functions delivers through CloudWatch Logs' vended-logs path.
  name              = "/aws/vendedlogs/states/${local.retraining_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_states" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "retraining" {
  count = local.retraining ? 1 : 0

  name                 = "${var.name_prefix}-retraining-sfn"
  description          = "Step Functions: read the snapshot pointer, run the creditscore training jobs, alarm on failures"
  assume_role_policy   = data.aws_iam_policy_document.assume_states.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "retraining" {
  statement {
    sid       = "ReadSnapshotPointer"
    actions   = ["s3:GetObject"]
    resources = ["${var.cleaned_bucket_arn}/${local.snapshot_pointer_key}"]
  }

  # createTrainingJob.sync: create, follow and (when the execution stops) stop the module's jobs, tag them at
  # creation. ListTags is in the policy AWS generates for this integration; it is scoped to the same jobs.
  statement {
    sid       = "RunTrainingJobs"
    actions   = ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags", "sagemaker:ListTags"]
    resources = local.training_job_arns
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

  # .sync learns that a job ended through this EventBridge rule, which Step Functions manages.
  statement {
    sid       = "FollowTrainingJobs"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = [local.sagemaker_sync_rule_arn]
  }

  # The pointer is SSE-KMS (read through S3); the alarm topic is encrypted with the same key (published to
  # through SNS).
  statement {
    sid       = "DataKey"
    actions   = var.alarm_topic_arn == null ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = var.alarm_topic_arn == null ? ["s3.${local.region}.amazonaws.com"] : ["s3.${local.region}.amazonaws.com", "sns.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]

    content {
      sid       = "PublishAlarm"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  # Execution logs go through CloudWatch Logs' vended-log delivery, whose actions take no resource ARN.
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # X-Ray tracing of the executions; these actions take no resource ARN either.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "retraining" {
  count = local.retraining ? 1 : 0

  name   = "retraining"
  role   = aws_iam_role.retraining[0].id
  policy = data.aws_iam_policy_document.retraining.json
}

resource "aws_sfn_state_machine" "retraining" {
  count = local.retraining ? 1 : 0

  name       = local.retraining_name
  role_arn   = aws_iam_role.retraining[0].arn
  type       = "STANDARD"
  definition = jsonencode(local.retraining_definition)
  tags       = var.tags

  # Execution data (each state's input and output) is logged too: checkov's CKV_AWS_285 asks for it, and it
  # is what an audit of a retraining needs (which snapshot, which jobs, each job's FailureReason) beyond the
  # execution history's 90 days. It holds no customer data and no secret: bucket and model names, the
  # snapshot date, the jobs' requests and descriptions, in a log group encrypted with the data key.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.retraining[0].arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  depends_on = [aws_iam_role_policy.retraining]
}

# An execution fails when any model failed or was gated (RetrainingFailed), or when the pointer could not be
# read: one alarm for all of it, beside each model's own message from NotifyFailure.
resource "aws_cloudwatch_metric_alarm" "retraining_failed" {
  count = local.retraining ? 1 : 0

  alarm_name          = "${local.retraining_name}-failed"
  alarm_description   = "A retraining execution of ${local.retraining_name} failed: a model failed or was gated, or snapshots/latest.json could not be read. Open the execution in Step Functions."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.retraining[0].arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? null : [var.alarm_topic_arn]
  tags                = var.tags
}

################################################################################
# Retraining triggers: a new snapshot (the load job succeeded) and the schedule, each allowed only to start
# the state machine
################################################################################

resource "aws_cloudwatch_event_rule" "new_snapshot" {
  count = local.retraining && var.retrain_on_new_snapshot ? 1 : 0

  name        = local.new_snapshot_rule
  description = "The customers load succeeded: snapshots/latest.json names a new snapshot; retrain on it"
  state       = "ENABLED"
  tags        = var.tags

  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = [aws_glue_job.load.name]
      state   = ["SUCCEEDED"]
    }
  })
}

data "aws_iam_policy_document" "start_retraining" {
  statement {
    sid       = "StartRetraining"
    actions   = ["states:StartExecution"]
    resources = [local.retraining_arn]
  }
}

resource "aws_iam_role" "retraining_events" {
  count = local.retraining && var.retrain_on_new_snapshot ? 1 : 0

  name                 = "${var.name_prefix}-retraining-events"
  description          = "EventBridge: start the creditscore retraining state machine on a new snapshot"
  assume_role_policy   = data.aws_iam_policy_document.assume_events.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "retraining_events" {
  count = local.retraining && var.retrain_on_new_snapshot ? 1 : 0

  name   = "start-retraining"
  role   = aws_iam_role.retraining_events[0].id
  policy = data.aws_iam_policy_document.start_retraining.json
}

resource "aws_cloudwatch_event_target" "retraining" {
  count = local.retraining && var.retrain_on_new_snapshot ? 1 : 0

  rule      = aws_cloudwatch_event_rule.new_snapshot[0].name
  target_id = "retraining"
  arn       = aws_sfn_state_machine.retraining[0].arn
  role_arn  = aws_iam_role.retraining_events[0].arn
}

resource "aws_scheduler_schedule_group" "retraining" {
  count = var.enable_retraining_schedule ? 1 : 0

  name = local.retraining_name
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
  description          = "EventBridge Scheduler: start the creditscore retraining state machine"
  assume_role_policy   = data.aws_iam_policy_document.assume_scheduler.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  source_policy_documents = [data.aws_iam_policy_document.start_retraining.json]

  # The schedule's input is encrypted with the data key.
  statement {
    sid       = "ScheduleKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.enable_retraining_schedule ? 1 : 0

  name   = "start-retraining"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

# One schedule for every model: the state machine trains them all on the newest loaded snapshot.
resource "aws_scheduler_schedule" "retraining" {
  count = var.enable_retraining_schedule ? 1 : 0

  name                         = local.retraining_name
  group_name                   = aws_scheduler_schedule_group.retraining[0].name
  description                  = "Retrain ${join(", ", var.retraining_models)} on the newest loaded snapshot"
  schedule_expression          = var.retraining_schedule_expression
  schedule_expression_timezone = var.retraining_schedule_timezone
  state                        = "ENABLED"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  # Scheduler's templated target for Step Functions StartExecution: the state machine's ARN; the input
  # becomes the execution's input (the state machine needs none: it only tells a scheduled run apart).
  target {
    arn      = one(aws_sfn_state_machine.retraining[*].arn)
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({ trigger = "schedule", scheduledTime = "<aws.scheduler.scheduled-time>" })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }

  lifecycle {
    precondition {
      condition     = var.training_image_uri != null
      error_message = "The retraining schedule needs training_image_uri: without an image there is no state machine to start. Name the training image, or turn the schedule off (enable_retraining_schedule = false)."
    }
  }
}
