# cd modules/ml && terraform init -backend=false && terraform test -var='aws_endpoint="http://127.0.0.1:4598"'
# Plan runs assert the job, its encryption, the event trigger, the roles and the schedule; the apply runs
# create everything (event trigger on; then the retraining schedule too) against moto's server, with the
# code uploaded to a bucket (standing in for the artifacts bucket) and key made by tests/setup; nothing the
# module applies needs the raw, cleaned and models buckets to exist.
#
# aws_endpoint (the moto server's URL) must come from -var, written as an HCL string: terraform test
# parses -var values of variables the module does not declare as expressions, and a value in this file
# would override the command line.

variables {
  name_prefix = "creditscore-test"
  tags        = { Project = "creditscore", Environment = "test" }

  kms_key_arn        = "arn:aws:kms:ap-southeast-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  raw_bucket         = "creditscore-test-raw"
  raw_bucket_arn     = "arn:aws:s3:::creditscore-test-raw"
  cleaned_bucket     = "creditscore-test-cleaned"
  cleaned_bucket_arn = "arn:aws:s3:::creditscore-test-cleaned"
  models_bucket      = "creditscore-test-models"
  models_bucket_arn  = "arn:aws:s3:::creditscore-test-models"

  artifacts_bucket     = "creditscore-test-artifacts"
  artifacts_bucket_arn = "arn:aws:s3:::creditscore-test-artifacts"

  glue_script_path = "../../etl/glue_job.py"
  glue_libs_path   = "tests/fixtures/glue-libs.zip"
}

provider "aws" {
  region                      = "ap-southeast-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true

  endpoints {
    cloudwatch = var.aws_endpoint
    logs       = var.aws_endpoint
    events     = var.aws_endpoint
    glue       = var.aws_endpoint
    iam        = var.aws_endpoint
    kms        = var.aws_endpoint
    s3         = var.aws_endpoint
    scheduler  = var.aws_endpoint
    sts        = var.aws_endpoint
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = aws_glue_job.etl.name == "creditscore-test-etl" && aws_glue_job.etl.glue_version == "5.0" && aws_glue_job.etl.command[0].name == "glueetl" && aws_glue_job.etl.command[0].python_version == "3"
    error_message = "A Glue 5.0 Spark (glueetl) job on Python 3, named from the prefix."
  }

  assert {
    condition     = aws_glue_job.etl.command[0].script_location == "s3://creditscore-test-artifacts/glue/glue_job.py" && aws_s3_object.glue_script.bucket == "creditscore-test-artifacts" && aws_s3_object.glue_libs.bucket == "creditscore-test-artifacts" && aws_s3_object.glue_script.key == "glue/glue_job.py" && aws_s3_object.glue_libs.key == "glue/glue-libs.zip"
    error_message = "The script and the libs zip are uploaded to the artifacts bucket's glue/ prefix, never to the models bucket training writes."
  }

  assert {
    condition     = output.glue_script_s3_uri == "s3://creditscore-test-artifacts/glue/glue_job.py" && output.glue_libs_s3_uri == "s3://creditscore-test-artifacts/glue/glue-libs.zip"
    error_message = "The code URIs name the artifacts bucket."
  }

  assert {
    condition     = aws_s3_object.glue_script.source_hash == filemd5("../../etl/glue_job.py") && aws_s3_object.glue_script.server_side_encryption == "aws:kms" && aws_s3_object.glue_libs.kms_key_id == var.kms_key_arn
    error_message = "The code objects follow the files' contents and are KMS-encrypted."
  }

  assert {
    condition = (
      aws_glue_job.etl.default_arguments["--RAW_BUCKET"] == "creditscore-test-raw" &&
      aws_glue_job.etl.default_arguments["--CLEANED_BUCKET"] == "creditscore-test-cleaned" &&
      aws_glue_job.etl.default_arguments["--extra-py-files"] == "s3://creditscore-test-artifacts/glue/glue-libs.zip" &&
      aws_glue_job.etl.default_arguments["--job-bookmark-option"] == "job-bookmark-disable" &&
      aws_glue_job.etl.default_arguments["--enable-continuous-cloudwatch-log"] == "true" &&
      aws_glue_job.etl.default_arguments["--enable-metrics"] == "true" &&
      aws_glue_job.etl.default_arguments["--custom-logGroup-prefix"] == "/aws-glue/jobs/creditscore-test" &&
      !contains(keys(aws_glue_job.etl.default_arguments), "--additional-python-modules")
    )
    error_message = "The job's arguments: the buckets etl/glue_job.py reads, the libs, no bookmarks, logs and metrics."
  }

  assert {
    condition     = aws_glue_job.etl.worker_type == "G.1X" && aws_glue_job.etl.number_of_workers == 2 && aws_glue_job.etl.execution_property[0].max_concurrent_runs == 1
    error_message = "Two G.1X workers, one run at a time."
  }

  assert {
    condition     = aws_glue_job.etl.security_configuration == aws_glue_security_configuration.this.name
    error_message = "The job uses the module's security configuration."
  }

  assert {
    condition = (
      aws_glue_security_configuration.this.encryption_configuration[0].s3_encryption[0].s3_encryption_mode == "SSE-KMS" &&
      aws_glue_security_configuration.this.encryption_configuration[0].s3_encryption[0].kms_key_arn == var.kms_key_arn &&
      aws_glue_security_configuration.this.encryption_configuration[0].cloudwatch_encryption[0].cloudwatch_encryption_mode == "SSE-KMS" &&
      aws_glue_security_configuration.this.encryption_configuration[0].cloudwatch_encryption[0].kms_key_arn == var.kms_key_arn &&
      aws_glue_security_configuration.this.encryption_configuration[0].job_bookmarks_encryption[0].job_bookmarks_encryption_mode == "CSE-KMS" &&
      aws_glue_security_configuration.this.encryption_configuration[0].job_bookmarks_encryption[0].kms_key_arn == var.kms_key_arn
    )
    error_message = "S3, CloudWatch and bookmarks are encrypted with the data key."
  }

  assert {
    condition     = toset([for g in aws_cloudwatch_log_group.glue : g.name]) == toset(["/aws-glue/jobs/creditscore-test/output", "/aws-glue/jobs/creditscore-test/error"]) && alltrue([for g in aws_cloudwatch_log_group.glue : g.kms_key_id == var.kms_key_arn && g.retention_in_days == 365])
    error_message = "The job's log groups are named from the prefix, KMS-encrypted and kept a year."
  }

  assert {
    condition     = aws_glue_catalog_database.this[0].name == "creditscore_test"
    error_message = "The catalog database is the prefix with underscores."
  }

  assert {
    condition     = aws_glue_trigger.raw_objects[0].type == "EVENT" && aws_glue_trigger.raw_objects[0].workflow_name == "creditscore-test-etl" && aws_glue_trigger.raw_objects[0].event_batching_condition[0].batch_size == 3 && aws_glue_trigger.raw_objects[0].event_batching_condition[0].batch_window == 900 && aws_glue_trigger.raw_objects[0].actions[0].job_name == "creditscore-test-etl"
    error_message = "An EVENT trigger in the workflow starts the job once per batch of three objects or 900 s."
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.raw_object_created[0].event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail = {
        bucket = { name = ["creditscore-test-raw"] }
        object = { key = [{ prefix = "customers/" }, { prefix = "transactions/" }, { prefix = "social/" }] }
      }
    }
    error_message = "The rule matches Object Created in the raw bucket under the three source prefixes."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.raw_object_created[0].name == "creditscore-test-raw-object-created" && output.raw_object_rule_name == "creditscore-test-raw-object-created"
    error_message = "The rule is named from the prefix."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.events[0].policy).Statement[0].Action == "glue:NotifyEvent" && jsondecode(aws_iam_role_policy.events[0].policy).Statement[0].Resource == "arn:aws:glue:ap-southeast-1:123456789012:workflow/creditscore-test-etl"
    error_message = "EventBridge may only notify the ETL workflow."
  }

  assert {
    condition     = length(aws_scheduler_schedule.retraining) == 0 && length(aws_iam_role.scheduler) == 0 && output.retraining_schedule_names == null
    error_message = "The retraining schedule is off by default."
  }

  assert {
    condition = alltrue([
      for needle in [
        "\"arn:aws:s3:::creditscore-test-raw/*\"",
        "\"arn:aws:s3:::creditscore-test-cleaned/*\"",
        "\"arn:aws:s3:::creditscore-test-artifacts/glue/*\"",
        "\"logs:AssociateKmsKey\"",
      ] : strcontains(aws_iam_role_policy.glue.policy, needle)
    ]) && !strcontains(aws_iam_role_policy.glue.policy, "creditscore-test-models")
    error_message = "The Glue role reads raw, writes cleaned and reads only the code prefix of the artifacts bucket; nothing of the models bucket."
  }

  assert {
    condition = alltrue([
      for doc in [data.aws_iam_policy_document.glue, data.aws_iam_policy_document.sagemaker] :
      length([
        for st in doc.statement : st
        if st.effect == "Deny" && st.sid == "ArtifactsAreReadOnly" &&
        toset(st.resources) == toset(["arn:aws:s3:::creditscore-test-artifacts", "arn:aws:s3:::creditscore-test-artifacts/*"]) &&
        contains(st.actions, "s3:Put*") && contains(st.actions, "s3:Delete*")
      ]) == 1
    ])
    error_message = "The Glue and SageMaker roles are explicitly denied every write to the artifacts bucket (code the hosts and jobs run)."
  }

  assert {
    condition = alltrue(flatten([
      for doc in [data.aws_iam_policy_document.glue, data.aws_iam_policy_document.sagemaker] : [
        for st in doc.statement : !anytrue([for r in st.resources : startswith(r, "arn:aws:s3:::creditscore-test-artifacts")])
        if st.effect == "Allow" && anytrue([for a in st.actions : startswith(a, "s3:Put") || startswith(a, "s3:Delete")])
      ]
    ]))
    error_message = "No Allow statement of the Glue or SageMaker role may write anywhere in the artifacts bucket."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.glue_service.policy_arn == "arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole"
    error_message = "The Glue role has the AWSGlueServiceRole managed policy."
  }

  assert {
    condition = alltrue([
      for needle in [
        "\"arn:aws:s3:::creditscore-test-cleaned/*\"",
        "\"arn:aws:s3:::creditscore-test-models/training-jobs/*\"",
        "\"arn:aws:s3:::creditscore-test-artifacts/training/sourcedir.tar.gz\"",
        "\"ecr:BatchGetImage\"",
        "\"arn:aws:logs:ap-southeast-1:123456789012:log-group:/aws/sagemaker/TrainingJobs\"",
        "\"kms:GrantIsForAWSResource\"",
      ] : strcontains(aws_iam_role_policy.sagemaker.policy, needle)
    ]) && !strcontains(aws_iam_role_policy.sagemaker.policy, "creditscore-test-raw") && !strcontains(aws_iam_role_policy.sagemaker.policy, "\"arn:aws:s3:::creditscore-test-models/*\"")
    error_message = "The SageMaker role reads cleaned and its source, writes only under the models bucket's training-jobs/ prefix, pulls, logs; never raw, never a published model."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.sagemaker.statement : st.resources if st.sid == "PullTrainingImage"]) == toset(["arn:aws:ecr:ap-southeast-1:123456789012:repository/*"])
    error_message = "Without a training image the SageMaker role may pull from this account's repositories only, never from any account's."
  }

  assert {
    condition     = output.log_group_names != null && length(output.log_group_names) == 2
    error_message = "Both Glue log groups are outputs."
  }
}

run "schedule_on_plan" {
  command = plan

  variables {
    enable_retraining_schedule     = true
    training_image_uri             = "763104351884.dkr.ecr.ap-southeast-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
    training_data_prefix           = "features/snapshot=2025-06-01/"
    glue_additional_python_modules = ["pydantic==2.11.7", "structlog==25.4.0"]
    glue_extra_arguments           = { "--INGEST_DATE" = "2025-06-01" }
  }

  assert {
    condition     = toset(keys(aws_scheduler_schedule.retraining)) == toset(["xgboost-new-customer", "pytorch-traditional", "extratrees-social"]) && aws_scheduler_schedule_group.retraining[0].name == "creditscore-test-retraining"
    error_message = "One schedule per model, in a group named from the prefix."
  }

  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.retraining : s.schedule_expression == "cron(0 3 ? * MON *)" && s.target[0].arn == "arn:aws:scheduler:::aws-sdk:sagemaker:createTrainingJob"])
    error_message = "Weekly, through the Scheduler universal target for CreateTrainingJob."
  }

  assert {
    condition = (
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).TrainingJobName == "creditscore-test-xgboost-new-c-<aws.scheduler.execution-id>" &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).HyperParameters.model == "xgboost-new-customer" &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).AlgorithmSpecification.TrainingImage == var.training_image_uri &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).InputDataConfig[0].DataSource.S3DataSource.S3Uri == "s3://creditscore-test-cleaned/features/snapshot=2025-06-01/" &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).OutputDataConfig.S3OutputPath == "s3://creditscore-test-models/training-jobs/xgboost-new-customer/" &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).HyperParameters.sagemaker_submit_directory == "s3://creditscore-test-artifacts/training/sourcedir.tar.gz" &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).ResourceConfig.VolumeKmsKeyId == var.kms_key_arn &&
      jsondecode(aws_scheduler_schedule.retraining["xgboost-new-customer"].target[0].input).Environment.CREDITSCORE_AWS_ENDPOINT_URL == ""
    )
    error_message = "The CreateTrainingJob request: unique name, model, image, source from the artifacts bucket, cleaned data in, models bucket out, encrypted volume, real AWS."
  }

  assert {
    condition     = strcontains(aws_iam_role_policy.scheduler[0].policy, "\"iam:PassRole\"") && strcontains(aws_iam_role_policy.scheduler[0].policy, "\"sagemaker.amazonaws.com\"") && strcontains(aws_iam_role_policy.scheduler[0].policy, "\"arn:aws:sagemaker:ap-southeast-1:123456789012:training-job/creditscore-test-xgboost-new-c-*\"")
    error_message = "The scheduler may create only the module's training jobs and pass only the SageMaker role, to SageMaker."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.sagemaker.policy, "ecr:") && length([for st in data.aws_iam_policy_document.sagemaker.statement : st if st.sid == "PullTrainingImage"]) == 0
    error_message = "A SageMaker prebuilt image (another account's ECR) is pulled with SageMaker's own credentials: the role gets no ECR grant at all."
  }

  assert {
    condition     = aws_glue_job.etl.default_arguments["--additional-python-modules"] == "pydantic==2.11.7,structlog==25.4.0" && aws_glue_job.etl.default_arguments["--INGEST_DATE"] == "2025-06-01"
    error_message = "Extra modules and arguments reach the job."
  }
}

run "own_account_image_plan" {
  command = plan

  variables {
    enable_retraining_schedule = true
    training_image_uri         = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/creditscore-training:1.0"
    training_data_prefix       = "features/snapshot=2025-06-01/"
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.sagemaker.statement : st.resources if st.sid == "PullTrainingImage"]) == toset(["arn:aws:ecr:ap-southeast-1:123456789012:repository/creditscore-training"])
    error_message = "An image in this account's ECR: the role may pull from that one repository."
  }
}

run "artifacts_bucket_must_be_its_own" {
  command = plan

  variables {
    artifacts_bucket     = "creditscore-test-models"
    artifacts_bucket_arn = "arn:aws:s3:::creditscore-test-models"
  }

  expect_failures = [aws_s3_object.glue_libs]
}

run "trigger_off_plan" {
  command = plan

  variables {
    enable_event_trigger    = false
    create_catalog_database = false
  }

  assert {
    condition     = length(aws_glue_workflow.etl) == 0 && length(aws_glue_trigger.raw_objects) == 0 && length(aws_cloudwatch_event_rule.raw_object_created) == 0 && length(aws_iam_role.events) == 0
    error_message = "enable_event_trigger = false leaves out the workflow, trigger, rule and role."
  }

  assert {
    condition     = output.glue_workflow_name == null && output.raw_object_rule_name == null && output.glue_catalog_database_name == null
    error_message = "Their outputs are null."
  }
}

run "schedule_needs_image_and_data" {
  command = plan

  variables {
    enable_retraining_schedule = true
  }

  expect_failures = [aws_scheduler_schedule.retraining]
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    glue_worker_type       = "Standard"
    glue_number_of_workers = 1
    glue_libs_path         = "libs.tar.gz"
    training_image_uri     = "docker.io/library/python:3.11"
    training_source_key    = "/training/"
  }

  expect_failures = [var.glue_worker_type, var.glue_number_of_workers, var.glue_libs_path, var.training_image_uri, var.training_source_key]
}

run "setup" {
  module {
    source = "./tests/setup"
  }

  variables {
    name_prefix = "creditscore-test"
  }
}

run "apply_with_event_trigger" {
  command = apply

  variables {
    kms_key_arn          = run.setup.kms_key_arn
    artifacts_bucket     = run.setup.bucket
    artifacts_bucket_arn = run.setup.bucket_arn
  }

  assert {
    condition     = output.glue_job_name == "creditscore-test-etl" && output.glue_workflow_name == "creditscore-test-etl" && output.raw_object_rule_name == "creditscore-test-raw-object-created"
    error_message = "The job, workflow and rule exist."
  }

  assert {
    condition     = aws_cloudwatch_event_target.glue_workflow[0].arn == aws_glue_workflow.etl[0].arn && aws_cloudwatch_event_target.glue_workflow[0].role_arn == aws_iam_role.events[0].arn
    error_message = "The rule targets the workflow with the events role."
  }

  assert {
    condition     = startswith(output.glue_role_arn, "arn:aws:iam::") && startswith(output.sagemaker_role_arn, "arn:aws:iam::") && output.retraining_schedule_names == null
    error_message = "The roles exist; no schedule by default."
  }
}

run "apply_with_schedule" {
  command = apply

  variables {
    kms_key_arn                = run.setup.kms_key_arn
    artifacts_bucket           = run.setup.bucket
    artifacts_bucket_arn       = run.setup.bucket_arn
    enable_retraining_schedule = true
    training_image_uri         = "763104351884.dkr.ecr.ap-southeast-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
    training_data_prefix       = "features/snapshot=2025-06-01/"
  }

  assert {
    condition     = output.retraining_schedule_group_name == "creditscore-test-retraining" && length(output.retraining_schedule_names) == 3
    error_message = "Three schedules in the group."
  }
}
