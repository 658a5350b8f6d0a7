# envs/dev applied for real against a local AWS endpoint (moto's server, started by the harness:
# tests/test_terraform.py runs `terraform test -var='aws_endpoint="http://127.0.0.1:PORT"'`), checked, and
# destroyed. Endpoint overrides live only here, never in the environment or its modules.

variables {
  project             = "cstf"
  environment         = "dev"
  allowed_cidrs       = ["203.0.113.0/24"]
  detailed_monitoring = false # instance monitoring hangs against moto
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
    sns         = var.aws_endpoint
    ssm         = var.aws_endpoint
    sts         = var.aws_endpoint
  }
}

run "plan_names_follow_the_prefix" {
  command = plan

  assert {
    condition     = output.raw_bucket == "cstf-dev-raw" && output.cleaned_bucket == "cstf-dev-cleaned" && output.models_bucket == "cstf-dev-models" && output.artifacts_bucket == "cstf-dev-artifacts"
    error_message = "bucket names must be {project}-{env}-raw/cleaned/models, the service's defaults, and {project}-{env}-artifacts"
  }

  assert {
    condition     = aws_s3_object.release.bucket == "cstf-dev-artifacts" && aws_s3_object.release_requirements.bucket == "cstf-dev-artifacts" && module.ml.glue_script_s3_uri == "s3://cstf-dev-artifacts/glue/glue_job.py"
    error_message = "the release, its requirements and the Glue code go to the artifacts bucket, never the models bucket training writes"
  }

  assert {
    condition     = module.compute.release.sha256 == filesha256("${local.dist_dir}/${local.wheel}") && module.compute.release.requirements_sha256 == filesha256("${local.dist_dir}/requirements.txt") && module.compute.release.bucket == "cstf-dev-artifacts"
    error_message = "the hosts check the release and its requirements against the sha256 of the files make dist wrote"
  }

  assert {
    condition     = output.pseudonym_key_parameter == "/cstf-dev/pseudonym-key" && output.api_keys_parameter == "/cstf-dev/api-keys"
    error_message = "both secrets come from SSM parameters named from the prefix"
  }

  assert {
    condition     = output.customers_table == "cstf-dev-customers" && output.score_history_table == "cstf-dev-score-history"
    error_message = "table names must be {project}-{env}-customers/score-history, the service's defaults"
  }

  assert {
    condition     = output.glue_load_job_name == "cstf-dev-load-customers" && module.ml.glue_load_script_s3_uri == "s3://cstf-dev-artifacts/glue/glue_load_job.py" && output.retraining_state_machine_arn == null && module.ml.retraining_schedule_name == null
    error_message = "dev loads each new snapshot into its customers table; no retraining until a training image is named"
  }
}

# Monitoring on (off by default in dev): the workspace gets the repository's rule files, the host its
# collector, and no alert manager (dev has no alarm topic). Planned only, to keep the test short:
# modules/monitoring's own test applies the workspace and its rule namespaces against moto.
run "plan_monitoring" {
  command = plan

  variables {
    enable_monitoring = true
  }

  assert {
    condition     = toset(keys(module.monitoring[0].rule_namespaces)) == toset(["alerts", "challenger", "recording", "stability"]) && module.monitoring[0].alert_manager_topic_arn == null
    error_message = "monitoring/rules/*.yml become the workspace's rule namespaces; dev has no alarm topic for an alert manager"
  }

  assert {
    condition     = module.compute.metrics_collector != null && module.compute.metrics_collector.prometheus_version == "3.4.1" && output.monitoring.metrics_key_parameter == "/cstf-dev/metrics-key"
    error_message = "with monitoring on, the API host runs the collector, scraping with the key of /{project}-{env}/metrics-key"
  }
}

run "apply_dev" {
  command = apply

  assert {
    condition     = startswith(output.api_url, "http://") && endswith(output.api_url, ":8080")
    error_message = "dev serves the API from its one host on port 8080"
  }

  assert {
    condition     = output.instance_id != null
    error_message = "dev runs exactly one API host"
  }

  assert {
    condition     = module.vpc.nat_gateway_id == null
    error_message = "dev has no NAT gateway"
  }

  assert {
    condition     = aws_s3_object.release.key == "releases/${local.wheel}" && aws_s3_object.release.bucket == output.artifacts_bucket
    error_message = "the service release is uploaded where the host's user_data reads it"
  }

  assert {
    condition     = aws_s3_object.release_requirements.key == "releases/${local.wheel}.requirements.txt" && aws_s3_object.release_requirements.bucket == output.artifacts_bucket
    error_message = "the release's hashed requirements are uploaded beside it, where the host's user_data reads them"
  }
}
