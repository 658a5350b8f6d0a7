# cd modules/ml && terraform init -backend=false && terraform test -var='aws_endpoint="http://127.0.0.1:4598"'
# Plan runs assert the jobs, their encryption, the event trigger and the load after it, the roles, the retraining
# state machine (its decoded definition), its triggers and alarm; the apply runs create everything (event
# trigger on; then retraining with its rule, schedule and alarm) against moto's server, with the code uploaded
# to a bucket (standing in for the artifacts bucket) and key made by tests/setup; nothing the module applies
# needs the raw, cleaned and models buckets or the customers table to exist.
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

  customers_table_name = "creditscore-test-customers"
  customers_table_arn  = "arn:aws:dynamodb:ap-southeast-1:123456789012:table/creditscore-test-customers"

  glue_script_path      = "../../etl/glue_job.py"
  glue_load_script_path = "../../etl/glue_load_job.py"
  glue_libs_path        = "tests/fixtures/glue-libs.zip"
  score_script_path     = "../../training/batch/glue_score_job.py"
  score_wheel_path      = "tests/fixtures/creditscore-0.0.0-py3-none-any.whl"
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
    sfn        = var.aws_endpoint
    sts        = var.aws_endpoint
  }
}

# moto's server does not implement ValidateStateMachineDefinition, which the AWS provider calls while planning
# every new or changed definition: the state machine is never sent to moto. Every run plans (and the apply
# runs "apply") it with this override, so its configuration, definition included, is asserted from the plan;
# everything that refers to it (the rule's target, the schedule, the alarm) is applied in moto with this ARN
# (apply_with_retraining repeats the override with its values given at apply).
override_resource {
  target          = aws_sfn_state_machine.retraining
  override_during = plan
  values = {
    arn = "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining"
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
      aws_glue_job.load.default_arguments["--additional-python-modules"] == "structlog==25.4.0,tqdm==4.67.1"
    )
    error_message = "The job's arguments: the buckets etl/glue_job.py reads, the libs, no bookmarks, logs and metrics, and the load's pip modules."
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
    condition     = length(aws_scheduler_schedule.retraining) == 0 && length(aws_iam_role.scheduler) == 0 && output.retraining_schedule_name == null
    error_message = "The retraining schedule is off by default."
  }

  assert {
    condition     = length(aws_sfn_state_machine.retraining) == 0 && length(aws_cloudwatch_event_rule.new_snapshot) == 0 && length(aws_cloudwatch_metric_alarm.retraining_failed) == 0 && length(aws_iam_role.retraining) == 0 && output.retraining_state_machine_arn == null && output.retraining_rule_name == null
    error_message = "Without a training image there is no retraining: no state machine, rule, alarm or role."
  }

  assert {
    condition     = aws_glue_job.load.name == "creditscore-test-load-customers" && aws_glue_job.load.glue_version == "5.0" && aws_glue_job.load.command[0].name == "glueetl" && aws_glue_job.load.command[0].python_version == "3"
    error_message = "The load is a Glue 5.0 Spark (glueetl) job on Python 3, named from the prefix."
  }

  assert {
    condition     = aws_glue_job.load.worker_type == "G.1X" && aws_glue_job.load.number_of_workers == 2 && aws_glue_job.load.execution_property[0].max_concurrent_runs == 1 && aws_glue_job.load.security_configuration == aws_glue_security_configuration.this.name
    error_message = "The load runs on two G.1X workers, one run at a time, with the module's security configuration."
  }

  assert {
    condition     = aws_glue_job.load.command[0].script_location == "s3://creditscore-test-artifacts/glue/glue_load_job.py" && aws_s3_object.glue_load_script.key == "glue/glue_load_job.py" && aws_s3_object.glue_load_script.source_hash == filemd5("../../etl/glue_load_job.py") && aws_s3_object.glue_load_script.kms_key_id == var.kms_key_arn && output.glue_load_script_s3_uri == "s3://creditscore-test-artifacts/glue/glue_load_job.py"
    error_message = "The load script is uploaded beside glue_job.py in the artifacts bucket, KMS-encrypted, following the file."
  }

  assert {
    condition = (
      aws_glue_job.load.default_arguments["--CUSTOMERS_TABLE"] == "creditscore-test-customers" &&
      aws_glue_job.load.default_arguments["--CLEANED_BUCKET"] == "creditscore-test-cleaned" &&
      !contains(keys(aws_glue_job.load.default_arguments), "--SNAPSHOT") &&
      !contains(keys(aws_glue_job.load.default_arguments), "--RAW_BUCKET") &&
      alltrue([
        for k in ["--extra-py-files", "--job-bookmark-option", "--enable-continuous-cloudwatch-log", "--enable-metrics", "--custom-logGroup-prefix", "--job-language"] :
        aws_glue_job.load.default_arguments[k] == aws_glue_job.etl.default_arguments[k]
      ])
    )
    error_message = "The load's arguments: the table and the cleaned bucket, the newest snapshot by default, and the ETL's libs, logs and metrics."
  }

  assert {
    condition = (
      aws_glue_trigger.load_after_etl[0].type == "CONDITIONAL" &&
      aws_glue_trigger.load_after_etl[0].workflow_name == "creditscore-test-etl" &&
      aws_glue_trigger.load_after_etl[0].start_on_creation &&
      aws_glue_trigger.load_after_etl[0].predicate[0].logical == "ANY" &&
      length(aws_glue_trigger.load_after_etl[0].predicate[0].conditions) == 1 &&
      aws_glue_trigger.load_after_etl[0].predicate[0].conditions[0].job_name == "creditscore-test-etl" &&
      aws_glue_trigger.load_after_etl[0].predicate[0].conditions[0].state == "SUCCEEDED" &&
      aws_glue_trigger.load_after_etl[0].predicate[0].conditions[0].logical_operator == "EQUALS" &&
      length(aws_glue_trigger.load_after_etl[0].actions) == 1 &&
      aws_glue_trigger.load_after_etl[0].actions[0].job_name == "creditscore-test-load-customers"
    )
    error_message = "In the ETL's workflow, a conditional trigger starts the load when the ETL run has succeeded."
  }

  assert {
    condition = (
      length([for st in data.aws_iam_policy_document.glue.statement : st if anytrue([for a in st.actions : startswith(a, "dynamodb:")])]) == 1 &&
      toset(one([for st in data.aws_iam_policy_document.glue.statement : st.actions if st.sid == "LoadCustomers"])) == toset(["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Scan", "dynamodb:DescribeTable"]) &&
      toset(one([for st in data.aws_iam_policy_document.glue.statement : st.resources if st.sid == "LoadCustomers"])) == toset(["arn:aws:dynamodb:ap-southeast-1:123456789012:table/creditscore-test-customers"]) &&
      one([for st in data.aws_iam_policy_document.glue.statement : st.effect if st.sid == "LoadCustomers"]) == "Allow"
    )
    error_message = "The Glue role's DynamoDB rights are exactly the load's (the transaction's item actions, the count scan, DescribeTable) on the customers table alone."
  }

  assert {
    condition = (
      toset(one([for st in data.aws_iam_policy_document.sagemaker.statement : st.resources if st.sid == "PublishRetrainedModels"])) == toset(["arn:aws:s3:::creditscore-test-models/xgboost-new-customer/*", "arn:aws:s3:::creditscore-test-models/pytorch-traditional/*", "arn:aws:s3:::creditscore-test-models/extratrees-social/*"]) &&
      toset(one([for st in data.aws_iam_policy_document.sagemaker.statement : st.actions if st.sid == "PublishRetrainedModels"])) == toset(["s3:GetObject", "s3:PutObject"]) &&
      toset(one([for st in data.aws_iam_policy_document.sagemaker.statement : st.resources if st.sid == "ListModels"])) == toset(["arn:aws:s3:::creditscore-test-models"]) &&
      length(flatten([for st in data.aws_iam_policy_document.sagemaker.statement : st.condition if st.sid == "ListModels"])) == 0 &&
      !anytrue(flatten([for st in data.aws_iam_policy_document.sagemaker.statement : [for a in st.actions : a == "s3:DeleteObject" || a == "s3:*" || a == "s3:Put*"] if st.effect == "Allow"]))
    )
    error_message = "The SageMaker role publishes (read and write, never delete) the retrained models' folders and may list the models bucket (so a missing key is a 404 to it, as the registry expects)."
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
      for doc in [data.aws_iam_policy_document.glue_common, data.aws_iam_policy_document.sagemaker] :
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
    condition = alltrue([
      for policy in [aws_iam_role_policy.glue.policy, aws_iam_role_policy.glue_score.policy] :
      length([for st in jsondecode(policy).Statement : st if st.Effect == "Deny" && st.Sid == "ArtifactsAreReadOnly"]) == 1 &&
      one([for st in jsondecode(policy).Statement : st.Resource if st.Sid == "DataKey"]) == var.kms_key_arn
    ])
    error_message = "Both Glue roles' policies hold the common statements: the artifacts-bucket Deny and the data key."
  }

  assert {
    condition = alltrue(flatten([
      for doc in [data.aws_iam_policy_document.glue, data.aws_iam_policy_document.glue_common, data.aws_iam_policy_document.glue_score, data.aws_iam_policy_document.sagemaker] : [
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

  assert {
    condition     = aws_glue_job.score_book.name == "creditscore-test-score-book" && aws_glue_job.score_book.glue_version == "5.0" && aws_glue_job.score_book.command[0].name == "glueetl" && aws_glue_job.score_book.command[0].python_version == "3" && aws_iam_role.glue_score.name == "creditscore-test-glue-score"
    error_message = "The score-book job is a Glue 5.0 Spark job on Python 3, named from the prefix; its role is named from the prefix too."
  }

  assert {
    condition     = aws_glue_job.score_book.worker_type == "G.1X" && aws_glue_job.score_book.number_of_workers == 2 && aws_glue_job.score_book.execution_property[0].max_concurrent_runs == 1 && aws_glue_job.score_book.security_configuration == aws_glue_security_configuration.this.name && aws_glue_job.score_book.timeout == 60
    error_message = "The score-book job runs on two G.1X workers, one run at a time, with the module's security configuration."
  }

  assert {
    condition     = aws_glue_job.score_book.command[0].script_location == "s3://creditscore-test-artifacts/glue/glue_score_job.py" && aws_s3_object.score_script.source_hash == filemd5("../../training/batch/glue_score_job.py") && aws_s3_object.score_script.kms_key_id == var.kms_key_arn && aws_s3_object.score_wheel.key == "glue/creditscore-0.0.0-py3-none-any.whl" && aws_s3_object.score_wheel.bucket == "creditscore-test-artifacts" && aws_s3_object.score_wheel.server_side_encryption == "aws:kms" && output.score_script_s3_uri == "s3://creditscore-test-artifacts/glue/glue_score_job.py" && output.score_wheel_s3_uri == "s3://creditscore-test-artifacts/glue/creditscore-0.0.0-py3-none-any.whl"
    error_message = "The score-book script and the wheel are uploaded to the artifacts bucket's code prefix, KMS-encrypted, following the files."
  }

  assert {
    condition = (
      aws_glue_job.score_book.default_arguments["--MODELS_BUCKET"] == "creditscore-test-models" &&
      aws_glue_job.score_book.default_arguments["--additional-python-modules"] == "s3://creditscore-test-artifacts/glue/creditscore-0.0.0-py3-none-any.whl,pandas==2.3.3,pyarrow==21.0.0,tqdm==4.67.1" &&
      aws_glue_job.score_book.default_arguments["--python-modules-installer-option"] == "--extra-index-url https://download.pytorch.org/whl/cpu" &&
      aws_glue_job.score_book.default_arguments["--job-bookmark-option"] == "job-bookmark-disable" &&
      aws_glue_job.score_book.default_arguments["--enable-continuous-cloudwatch-log"] == "true" &&
      aws_glue_job.score_book.default_arguments["--custom-logGroup-prefix"] == "/aws-glue/jobs/creditscore-test" &&
      length(setintersection(keys(aws_glue_job.score_book.default_arguments), ["--extra-py-files", "--CLEANED_BUCKET", "--RAW_BUCKET", "--CUSTOMERS_TABLE", "--MODEL", "--INPUT", "--OUTPUT"])) == 0
    )
    error_message = "The score-book job's arguments: the models bucket, the wheel and the pinned modules (torch from the CPU index), the jobs' logs and metrics; no libs zip; the model, input and output come with each run."
  }

  assert {
    condition = (
      toset(one([for st in data.aws_iam_policy_document.glue_score.statement : st.resources if st.sid == "ReadModels"])) == toset(["arn:aws:s3:::creditscore-test-models/*"]) &&
      toset(one([for st in data.aws_iam_policy_document.glue_score.statement : st.actions if st.sid == "ReadModels"])) == toset(["s3:GetObject"]) &&
      toset(one([for st in data.aws_iam_policy_document.glue_score.statement : st.resources if st.sid == "ReadBooks"])) == toset(["arn:aws:s3:::creditscore-test-cleaned/books/*"]) &&
      toset(one([for st in data.aws_iam_policy_document.glue_score.statement : st.actions if st.sid == "ReadBooks"])) == toset(["s3:GetObject"]) &&
      toset(one([for st in data.aws_iam_policy_document.glue_score.statement : st.resources if st.sid == "WriteScores"])) == toset(["arn:aws:s3:::creditscore-test-cleaned/scores/*"]) &&
      toset(flatten([for st in data.aws_iam_policy_document.glue_score.statement : [for c in st.condition : c.values] if st.sid == "ListBooksAndScores"])) == toset(["books/*", "scores/*"]) &&
      toset(flatten([for st in data.aws_iam_policy_document.glue_score.statement : st.resources if st.effect == "Allow" && anytrue([for a in st.actions : startswith(a, "s3:Put") || startswith(a, "s3:Delete")])])) == toset(["arn:aws:s3:::creditscore-test-cleaned/scores/*"]) &&
      !anytrue([for st in data.aws_iam_policy_document.glue_score.statement : anytrue([for a in st.actions : startswith(a, "dynamodb:") || a == "s3:*"])]) &&
      !strcontains(aws_iam_role_policy.glue_score.policy, "creditscore-test-raw") &&
      contains(data.aws_iam_policy_document.glue_score.source_policy_documents, data.aws_iam_policy_document.glue_common.json) &&
      aws_iam_role_policy_attachment.glue_score_service.policy_arn == "arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole"
    )
    error_message = "The score-book role reads the models and the books, writes only the scores prefix, uses the data key, reads its code; never raw, DynamoDB, or a write to the artifacts bucket."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.glue.policy, "creditscore-test-models") && output.score_input_s3_prefix == "s3://creditscore-test-cleaned/books/" && output.score_output_s3_prefix == "s3://creditscore-test-cleaned/scores/"
    error_message = "The ETL's role gains nothing of the models bucket; the score prefixes are outputs."
  }
}

run "retraining_plan" {
  command = plan

  variables {
    enable_retraining_schedule     = true
    training_image_uri             = "763104351884.dkr.ecr.ap-southeast-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
    alarm_topic_arn                = "arn:aws:sns:ap-southeast-1:123456789012:creditscore-test-alarms"
    training_hyperparameters       = { params = "{\"n_estimators\": 300}" }
    training_environment           = { CREDITSCORE_SCORE_PDO = "20" }
    glue_additional_python_modules = ["pydantic==2.11.7", "structlog==25.4.0"]
    glue_extra_arguments           = { "--INGEST_DATE" = "2025-06-01" }
  }

  assert {
    condition     = aws_sfn_state_machine.retraining[0].name == "creditscore-test-retraining" && aws_sfn_state_machine.retraining[0].type == "STANDARD" && aws_iam_role.retraining[0].name == "creditscore-test-retraining-sfn"
    error_message = "A STANDARD state machine named from the prefix; its role too."
  }

  assert {
    condition     = aws_sfn_state_machine.retraining[0].logging_configuration[0].level == "ALL" && aws_sfn_state_machine.retraining[0].logging_configuration[0].include_execution_data && aws_sfn_state_machine.retraining[0].tracing_configuration[0].enabled && aws_cloudwatch_log_group.retraining[0].name == "/aws/vendedlogs/states/creditscore-test-retraining" && aws_cloudwatch_log_group.retraining[0].kms_key_id == var.kms_key_arn && aws_cloudwatch_log_group.retraining[0].retention_in_days == 365
    error_message = "Every state's events, with their data, go to a KMS-encrypted log group kept a year; executions are traced."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).StartAt == "ReadSnapshotPointer" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.Resource == "arn:aws:states:::aws-sdk:s3:getObject" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.Parameters == { Bucket = "creditscore-test-cleaned", Key = "snapshots/latest.json" } &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.ResultSelector["pointer.$"] == "States.StringToJson($.Body)" &&
      [for m in jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.ResultSelector.models : m.model] == ["xgboost-new-customer", "pytorch-traditional", "extratrees-social"] &&
      output.snapshot_pointer_key == "snapshots/latest.json"
    )
    error_message = "The first state reads s3://{cleaned}/snapshots/latest.json (SDK integration) and parses its Body; the models to train follow."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.Type == "Map" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemsPath == "$.models" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemSelector["snapshot.$"] == "$.pointer.snapshot" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemSelector["model.$"] == "$$.Map.Item.Value.model" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.ProcessorConfig.Mode == "INLINE"
    )
    error_message = "A Map over the models, each iteration given its model and the pointer's snapshot."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Resource == "arn:aws:states:::sagemaker:createTrainingJob.sync" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.HyperParameters == {
        "model.$"                  = "$.model"
        publish                    = "challenger"
        sagemaker_program          = "train.py"
        sagemaker_submit_directory = "s3://creditscore-test-artifacts/training/sourcedir.tar.gz"
        sagemaker_region           = "ap-southeast-1"
        params                     = "{\"n_estimators\": 300}"
      } &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.Environment == {
        CREDITSCORE_AWS_ENDPOINT_URL = ""
        CREDITSCORE_AWS_REGION       = "ap-southeast-1"
        CREDITSCORE_MODELS_BUCKET    = "creditscore-test-models"
        CREDITSCORE_CLEANED_BUCKET   = "creditscore-test-cleaned"
        CREDITSCORE_SCORE_PDO        = "20"
      } &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.RoleArn == "arn:aws:iam::123456789012:role/creditscore-test-sagemaker-training" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.AlgorithmSpecification == { TrainingImage = var.training_image_uri, TrainingInputMode = "File" }
    )
    error_message = "Each model trains with .sync (the execution waits for the job), publishing as the shadow challenger (publish = challenger, retraining_publish's default) in script mode from the artifacts bucket, against real AWS's registry."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.InputDataConfig[0].ChannelName == "train" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.InputDataConfig[0].DataSource.S3DataSource["S3Uri.$"] == "States.Format('s3://creditscore-test-cleaned/features/snapshot={}/', $.snapshot)" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.OutputDataConfig == { "S3OutputPath.$" = "States.Format('s3://creditscore-test-models/training-jobs/{}/', $.model)", KmsKeyId = var.kms_key_arn } &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.ResourceConfig.VolumeKmsKeyId == var.kms_key_arn &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.StoppingCondition.MaxRuntimeInSeconds == 7200 &&
      contains(jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.Tags, { Key = "Model", "Value.$" = "$.model" })
    )
    error_message = "The train channel is the pointer's snapshot folder of features/; outputs under training-jobs/{model}/, volume and outputs KMS-encrypted, a runtime bound, tagged with the model."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Catch == [{ ErrorEquals = ["States.ALL"], ResultPath = "$.error", Next = "NotifyFailure" }] &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.NotifyFailure.Resource == "arn:aws:states:::sns:publish" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.NotifyFailure.Parameters.TopicArn == var.alarm_topic_arn &&
      strcontains(jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.NotifyFailure.Parameters["Message.$"], "$.model, $.snapshot, $.trainingJobName, $.execution, States.JsonToString($.error))") &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.NotifyFailure.Next == "ModelFailed" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.ModelFailed.Parameters.status == "FAILED"
    )
    error_message = "A failed (or gated) job is caught: an SNS message to the alarm topic names the model, the snapshot, the job and the error, then the iteration records the failure."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.Next == "CheckResults" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ResultSelector["statuses.$"] == "$[*].status" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.CheckResults.Parameters["anyFailed.$"] == "States.ArrayContains($.results.statuses, 'FAILED')" &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.AnyModelFailed.Choices == [{ Variable = "$.check.anyFailed", BooleanEquals = true, Next = "RetrainingFailed" }] &&
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainingFailed.Type == "Fail"
    )
    error_message = "After every model has run, the execution fails if any model failed, so that the ExecutionsFailed alarm fires too."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.retraining_failed[0].namespace == "AWS/States" &&
      aws_cloudwatch_metric_alarm.retraining_failed[0].metric_name == "ExecutionsFailed" &&
      aws_cloudwatch_metric_alarm.retraining_failed[0].dimensions["StateMachineArn"] == "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining" &&
      aws_cloudwatch_metric_alarm.retraining_failed[0].comparison_operator == "GreaterThanThreshold" && aws_cloudwatch_metric_alarm.retraining_failed[0].threshold == 0 &&
      aws_cloudwatch_metric_alarm.retraining_failed[0].alarm_actions == toset([var.alarm_topic_arn])
    )
    error_message = "Any failed execution raises an alarm to the topic."
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.new_snapshot[0].event_pattern) == {
      source        = ["aws.glue"]
      "detail-type" = ["Glue Job State Change"]
      detail        = { jobName = ["creditscore-test-load-customers"], state = ["SUCCEEDED"] }
    }
    error_message = "The rule matches the load job's success."
  }

  assert {
    condition     = aws_cloudwatch_event_target.retraining[0].arn == "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining" && aws_iam_role.retraining_events[0].name == "creditscore-test-retraining-events" && output.retraining_rule_name == "creditscore-test-new-snapshot"
    error_message = "The rule starts the state machine with its own role."
  }

  assert {
    condition     = aws_scheduler_schedule.retraining[0].target[0].arn == "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining" && aws_scheduler_schedule.retraining[0].schedule_expression == "cron(0 3 ? * MON *)" && aws_scheduler_schedule.retraining[0].group_name == "creditscore-test-retraining" && length(aws_scheduler_schedule.retraining) == 1
    error_message = "One weekly schedule, whose target is the state machine (Scheduler's templated Step Functions target)."
  }

  assert {
    condition = alltrue([
      for doc in [jsondecode(aws_iam_role_policy.retraining_events[0].policy), jsondecode(aws_iam_role_policy.scheduler[0].policy)] :
      length([for st in doc.Statement : st if st.Action == "states:StartExecution" && st.Resource == "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining"]) == 1 &&
      alltrue([for st in doc.Statement : st.Action == "states:StartExecution" || st.Action == "kms:Decrypt"])
    ])
    error_message = "The rule's and the schedule's roles may only start the state machine (and the schedule's decrypt its input): no SageMaker, no PassRole."
  }

  assert {
    condition = (
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.actions if st.sid == "RunTrainingJobs"])) == toset(["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags", "sagemaker:ListTags"]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "RunTrainingJobs"])) == toset([
        "arn:aws:sagemaker:ap-southeast-1:123456789012:training-job/creditscore-test-xgboost-new-customer-*",
        "arn:aws:sagemaker:ap-southeast-1:123456789012:training-job/creditscore-test-pytorch-traditional-*",
        "arn:aws:sagemaker:ap-southeast-1:123456789012:training-job/creditscore-test-extratrees-social-*",
      ]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "FollowTrainingJobs"])) == toset(["arn:aws:events:ap-southeast-1:123456789012:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.actions if st.sid == "FollowTrainingJobs"])) == toset(["events:PutTargets", "events:PutRule", "events:DescribeRule"]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "ReadSnapshotPointer"])) == toset(["arn:aws:s3:::creditscore-test-cleaned/snapshots/latest.json"]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "PublishAlarm"])) == toset([var.alarm_topic_arn]) &&
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.actions if st.sid == "DataKey"])) == toset(["kms:Decrypt", "kms:GenerateDataKey"])
    )
    error_message = "The state machine's role: the module's training jobs only, the .sync rule, the pointer object, the topic, the key."
  }

  assert {
    condition = (
      toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "PassTrainingRole"])) == toset(["arn:aws:iam::123456789012:role/creditscore-test-sagemaker-training"]) &&
      toset(flatten([for st in data.aws_iam_policy_document.retraining.statement : [for c in st.condition : c.values if c.variable == "iam:PassedToService"] if st.sid == "PassTrainingRole"])) == toset(["sagemaker.amazonaws.com"]) &&
      alltrue(flatten([for st in data.aws_iam_policy_document.retraining.statement : [for a in st.actions : startswith(a, "logs:") || startswith(a, "xray:")] if contains(st.resources, "*")])) &&
      alltrue([for st in data.aws_iam_policy_document.retraining.statement : alltrue([for a in st.actions : !strcontains(a, "*")])])
    )
    error_message = "It passes only the SageMaker role, only to SageMaker; only log delivery and tracing (which take no resource) are on *; no wildcard action."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.sagemaker.policy, "ecr:") && length([for st in data.aws_iam_policy_document.sagemaker.statement : st if st.sid == "PullTrainingImage"]) == 0
    error_message = "A SageMaker prebuilt image (another account's ECR) is pulled with SageMaker's own credentials: the role gets no ECR grant at all."
  }

  assert {
    condition     = aws_glue_job.etl.default_arguments["--additional-python-modules"] == "pydantic==2.11.7,structlog==25.4.0" && aws_glue_job.load.default_arguments["--additional-python-modules"] == "pydantic==2.11.7,structlog==25.4.0" && aws_glue_job.etl.default_arguments["--INGEST_DATE"] == "2025-06-01" && !contains(keys(aws_glue_job.load.default_arguments), "--INGEST_DATE")
    error_message = "Extra modules reach both jobs; the ETL's extra arguments only the ETL."
  }
}

# The longest names the variables allow: each job name stays within SageMaker's 63 characters. Also: without
# an alarm topic a failure goes straight to ModelFailed (no SNS state, no publish right); an image in this
# account's ECR; the new-snapshot rule off.
run "name_bound_no_topic_plan" {
  command = plan

  variables {
    name_prefix             = "creditscore-a-rather-long-environment-name"
    training_image_uri      = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/creditscore-training:1.0"
    retraining_models       = ["a-model-name-of-forty-eight-characters-exactly-x", "xgboost-new-customer"]
    retrain_on_new_snapshot = false
    retraining_publish      = "current"
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Parameters.HyperParameters.publish == "true"
    error_message = "retraining_publish = current: the jobs publish with publish = true, a version the gate lets in made current."
  }

  assert {
    condition = alltrue([
      for m in jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.ResultSelector.models :
      length(m.jobPrefix) <= 50 && length(m.jobPrefix) + 1 + 12 <= 63 && startswith("creditscore-a-rather-long-environment-name-${m.model}", m.jobPrefix) && can(regex("^[a-z0-9](-*[a-z0-9])*$", m.jobPrefix))
    ])
    error_message = "Each job name prefix is {name_prefix}-{model} cut to 50 characters, a valid start of a training job name."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.NameTrainingJob.Parameters["trainingJobName.$"] == "States.Format('{}-{}', $.jobPrefix, States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4))"
    error_message = "A job name is the prefix (<= 50), a hyphen and the last group of a UUID (8-4-4-4-12: 12 hex characters): at most 63."
  }

  assert {
    condition = toset(one([for st in data.aws_iam_policy_document.retraining.statement : st.resources if st.sid == "RunTrainingJobs"])) == toset([
      for m in jsondecode(aws_sfn_state_machine.retraining[0].definition).States.ReadSnapshotPointer.ResultSelector.models :
      "arn:aws:sagemaker:ap-southeast-1:123456789012:training-job/${m.jobPrefix}-*"
    ])
    error_message = "The role may run exactly the jobs the state machine names."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States.Train.Catch[0].Next == "ModelFailed" &&
      !contains(keys(jsondecode(aws_sfn_state_machine.retraining[0].definition).States.RetrainEachModel.ItemProcessor.States), "NotifyFailure") &&
      length([for st in data.aws_iam_policy_document.retraining.statement : st if st.sid == "PublishAlarm"]) == 0 &&
      aws_cloudwatch_metric_alarm.retraining_failed[0].alarm_actions == null
    )
    error_message = "Without a topic: no SNS state, no publish right, an alarm without actions."
  }

  assert {
    condition     = length(aws_sfn_state_machine.retraining) == 1 && length(aws_scheduler_schedule.retraining) == 0 && length(aws_cloudwatch_event_rule.new_snapshot) == 0 && length(aws_iam_role.retraining_events) == 0 && output.retraining_rule_name == null
    error_message = "retrain_on_new_snapshot = false leaves out the rule and its role, not the state machine; the schedule is off by default."
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
    condition     = length(aws_glue_workflow.etl) == 0 && length(aws_glue_trigger.raw_objects) == 0 && length(aws_glue_trigger.load_after_etl) == 0 && length(aws_cloudwatch_event_rule.raw_object_created) == 0 && length(aws_iam_role.events) == 0
    error_message = "enable_event_trigger = false leaves out the workflow, both triggers, the rule and the role."
  }

  assert {
    condition     = aws_glue_job.load.name == "creditscore-test-load-customers"
    error_message = "The load job remains, to be started by hand."
  }

  assert {
    condition     = output.glue_workflow_name == null && output.raw_object_rule_name == null && output.glue_catalog_database_name == null
    error_message = "Their outputs are null."
  }
}

run "schedule_needs_image" {
  command = plan

  variables {
    enable_retraining_schedule = true
  }

  expect_failures = [aws_scheduler_schedule.retraining]
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    glue_worker_type                = "Standard"
    glue_number_of_workers          = 1
    glue_libs_path                  = "libs.tar.gz"
    training_image_uri              = "docker.io/library/python:3.11"
    training_source_key             = "/training/"
    glue_load_script_path           = "etl/glue_load_job.txt"
    customers_table_arn             = "arn:aws:s3:::creditscore-test-customers"
    alarm_topic_arn                 = "creditscore-test-alarms"
    training_hyperparameters        = { model = "xgboost-new-customer" }
    score_script_path               = "training/batch/glue_score_job"
    score_wheel_path                = "dist/creditscore-0.1.0.tar.gz"
    score_input_prefix              = "/books"
    score_output_prefix             = "scores"
    score_number_of_workers         = 1.5
    score_max_concurrent_runs       = 0
    score_additional_python_modules = ["pandas>=2"]
    retraining_publish              = "shadow"
    score_torch_index_url           = "http://download.pytorch.org/whl/cpu"
  }

  expect_failures = [var.glue_worker_type, var.glue_number_of_workers, var.glue_libs_path, var.training_image_uri, var.training_source_key, var.glue_load_script_path, var.customers_table_arn, var.alarm_topic_arn, var.training_hyperparameters, var.score_script_path, var.score_wheel_path, var.score_input_prefix, var.score_output_prefix, var.score_number_of_workers, var.score_max_concurrent_runs, var.score_additional_python_modules, var.score_torch_index_url, var.retraining_publish]
}

run "score_prefixes_must_be_apart" {
  command = plan

  variables {
    score_input_prefix  = "scores/books/"
    score_output_prefix = "scores/"
  }

  expect_failures = [aws_glue_job.score_book]
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
    condition     = startswith(output.glue_role_arn, "arn:aws:iam::") && startswith(output.sagemaker_role_arn, "arn:aws:iam::") && output.retraining_schedule_name == null && output.retraining_state_machine_arn == null
    error_message = "The roles exist; no schedule and no retraining without an image."
  }

  assert {
    condition     = output.glue_load_job_name == "creditscore-test-load-customers" && startswith(output.glue_load_job_arn, "arn:aws:glue:") && aws_glue_trigger.load_after_etl[0].state == "ACTIVATED"
    error_message = "The load job exists and its conditional trigger is active."
  }

  assert {
    condition     = output.score_job_name == "creditscore-test-score-book" && startswith(output.score_job_arn, "arn:aws:glue:") && startswith(output.score_role_arn, "arn:aws:iam::") && output.score_role_arn != output.glue_role_arn && aws_glue_job.score_book.role_arn == output.score_role_arn && length([for t in [aws_glue_trigger.raw_objects, aws_glue_trigger.load_after_etl] : t if anytrue([for a in t[0].actions : a.job_name == output.score_job_name])]) == 0
    error_message = "The score-book job exists and runs with its own role, not the ETL's; no trigger starts it."
  }
}

# Retraining on: the state machine's role, log group, new-snapshot rule and target, the schedule and the alarm
# are created in moto; the state machine itself is the override above (see there).
run "apply_with_retraining" {
  command = apply

  variables {
    kms_key_arn                = run.setup.kms_key_arn
    artifacts_bucket           = run.setup.bucket
    artifacts_bucket_arn       = run.setup.bucket_arn
    enable_retraining_schedule = true
    training_image_uri         = "763104351884.dkr.ecr.ap-southeast-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
    alarm_topic_arn            = "arn:aws:sns:ap-southeast-1:123456789012:creditscore-test-alarms"
  }

  # The file's override, its values given at apply only: in an apply run, values made up at plan for the
  # computed attributes it does not name would change at apply.
  override_resource {
    target = aws_sfn_state_machine.retraining
    values = {
      arn = "arn:aws:states:ap-southeast-1:123456789012:stateMachine:creditscore-test-retraining"
    }
  }

  assert {
    condition     = output.retraining_schedule_group_name == "creditscore-test-retraining" && output.retraining_schedule_name == "creditscore-test-retraining" && output.retraining_rule_name == "creditscore-test-new-snapshot" && output.retraining_alarm_name == "creditscore-test-retraining-failed"
    error_message = "The schedule in its group, the new-snapshot rule and the alarm exist."
  }

  assert {
    condition     = aws_cloudwatch_event_target.retraining[0].arn == output.retraining_state_machine_arn && aws_cloudwatch_event_target.retraining[0].role_arn == aws_iam_role.retraining_events[0].arn && aws_scheduler_schedule.retraining[0].target[0].arn == output.retraining_state_machine_arn && aws_scheduler_schedule.retraining[0].target[0].role_arn == aws_iam_role.scheduler[0].arn && aws_sfn_state_machine.retraining[0].role_arn == aws_iam_role.retraining[0].arn
    error_message = "The rule and the schedule target the state machine, each with its own role; the state machine runs with its role."
  }

  assert {
    condition     = contains(output.log_group_names, "/aws/vendedlogs/states/creditscore-test-retraining")
    error_message = "The state machine's log group is created."
  }
}
