# envs/prod planned against a local AWS endpoint (moto's server, started by the harness:
# tests/test_terraform.py runs `terraform test -var='aws_endpoint="http://127.0.0.1:PORT"'`). Plan only:
# what prod turns on by default, asserted from the plan; the modules' own tests apply their resources.
# Endpoint overrides live only here, never in the environment or its modules.

variables {
  project         = "cstf"
  environment     = "prod"
  allowed_cidrs   = ["0.0.0.0/0"]
  certificate_arn = "arn:aws:acm:ap-southeast-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
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
    amp         = var.aws_endpoint
    autoscaling = var.aws_endpoint
    cloudwatch  = var.aws_endpoint
    dynamodb    = var.aws_endpoint
    ec2         = var.aws_endpoint
    elbv2       = var.aws_endpoint
    events      = var.aws_endpoint
    glue        = var.aws_endpoint
    iam         = var.aws_endpoint
    kms         = var.aws_endpoint
    logs        = var.aws_endpoint
    s3          = var.aws_endpoint
    sagemaker   = var.aws_endpoint
    scheduler   = var.aws_endpoint
    sfn         = var.aws_endpoint
    sns         = var.aws_endpoint
    ssm         = var.aws_endpoint
    sts         = var.aws_endpoint
  }
}

# moto's server does not implement ValidateStateMachineDefinition, which the AWS provider may call while
# planning a state machine: never sent to moto (modules/ml/tests/ml.tftest.hcl asserts its definition).
override_resource {
  target          = module.ml.aws_sfn_state_machine.retraining
  override_during = plan
  values = {
    arn = "arn:aws:states:ap-southeast-1:123456789012:stateMachine:cstf-prod-retraining"
  }
}

# With a training image (prod's tfvars name one), prod retrains every model after each new snapshot and on
# the weekly schedule, both through the state machine, and alarms to the service's topic. (Without an image
# the default schedule refuses the plan: modules/ml's schedule_needs_image run holds that; a test cannot
# expect the failure of a child module's resource.)
run "plan_retraining_on_by_default" {
  command = plan

  variables {
    training_image_uri = "763104351884.dkr.ecr.ap-southeast-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
  }

  assert {
    condition     = var.enable_retraining_schedule && module.ml.retraining_schedule_name == "cstf-prod-retraining" && module.ml.retraining_schedule_group_name == "cstf-prod-retraining"
    error_message = "prod retrains on the schedule by default"
  }

  assert {
    condition     = module.ml.retraining_state_machine_name == "cstf-prod-retraining" && module.ml.retraining_rule_name == "cstf-prod-new-snapshot" && module.ml.retraining_alarm_name == "cstf-prod-retraining-failed"
    error_message = "prod retrains after each new snapshot, through the state machine, with its failed-executions alarm"
  }

  assert {
    condition     = module.ml.glue_load_job_name == "cstf-prod-load-customers" && output.glue_load_job_name == "cstf-prod-load-customers" && output.retraining_state_machine_arn == "arn:aws:states:ap-southeast-1:123456789012:stateMachine:cstf-prod-retraining"
    error_message = "the load job and the state machine are outputs of prod"
  }

  assert {
    condition     = module.ml.training_source_s3_uri == "s3://cstf-prod-artifacts/training/sourcedir.tar.gz"
    error_message = "prod uploads make dist's training source where the training jobs' sagemaker_submit_directory points"
  }
}
