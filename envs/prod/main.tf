# The prod environment: API hosts in an Auto Scaling group across AZs in private subnets behind an HTTPS
# load balancer, a NAT gateway for their outbound calls, the data stores with deletion protection, and the
# ETL/training jobs with scheduled retraining. Every name comes from one prefix, "${project}-${environment}", which is also the
# service's default configuration (creditscore-dev-raw, creditscore-dev-customers, ...).

locals {
  name_prefix = "${var.project}-${var.environment}"
  tags        = merge(var.tags, { Project = var.project, Environment = var.environment, ManagedBy = "terraform" })
  dist_dir    = coalesce(var.dist_dir, "${path.root}/../../dist")
  wheel       = one(fileset(local.dist_dir, "creditscore-*.whl"))
}

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

module "vpc" {
  source = "../../modules/vpc"

  azs = var.azs

  name_prefix        = local.name_prefix
  az_count           = 2
  enable_nat_gateway = true
  tags               = local.tags
}

module "data" {
  source = "../../modules/data"

  name_prefix         = local.name_prefix
  force_destroy       = false
  deletion_protection = true
  tags                = local.tags
}

# The service's release and its requirements (`make dist`: every dependency pinned, with the sha256 of each
# file), in the artifacts bucket, which no workload role may write. The hosts check both files against the
# sha256 passed to modules/compute, then install in pip's hash-checking mode.
resource "aws_s3_object" "release" {
  bucket      = module.data.artifacts_bucket
  key         = "releases/${local.wheel}"
  source      = "${local.dist_dir}/${local.wheel}"
  source_hash = filemd5("${local.dist_dir}/${local.wheel}")
  kms_key_id  = module.data.kms_key_arn
}

resource "aws_s3_object" "release_requirements" {
  bucket      = module.data.artifacts_bucket
  key         = "releases/${local.wheel}.requirements.txt"
  source      = "${local.dist_dir}/requirements.txt"
  source_hash = filemd5("${local.dist_dir}/requirements.txt")
  kms_key_id  = module.data.kms_key_arn
}

module "compute" {
  source = "../../modules/compute"

  name_prefix             = local.name_prefix
  project                 = var.project
  environment             = var.environment
  mode                    = "asg"
  vpc_id                  = module.vpc.vpc_id
  public_subnet_ids       = module.vpc.public_subnet_ids
  private_subnet_ids      = module.vpc.private_subnet_ids
  allowed_cidrs           = var.allowed_cidrs
  kms_key_arn             = module.data.kms_key_arn
  models_bucket           = module.data.models_bucket
  models_bucket_arn       = module.data.models_bucket_arn
  artifacts_bucket        = module.data.artifacts_bucket
  artifacts_bucket_arn    = module.data.artifacts_bucket_arn
  customers_table_arn     = module.data.customers_table_arn
  score_history_table_arn = module.data.score_history_table_arn
  ami_id                  = coalesce(var.ami_id, nonsensitive(data.aws_ssm_parameter.al2023.value))
  instance_type           = var.instance_type
  detailed_monitoring     = var.detailed_monitoring
  release_key             = aws_s3_object.release.key
  release_sha256          = filesha256("${local.dist_dir}/${local.wheel}")

  release_requirements_key    = aws_s3_object.release_requirements.key
  release_requirements_sha256 = filesha256("${local.dist_dir}/requirements.txt")
  # API keys and the log-pseudonym key: SSM SecureString parameters made outside Terraform (docs/operations.md).
  api_keys_parameter_name      = var.api_keys_parameter_name
  pseudonym_key_parameter_name = var.pseudonym_key_parameter_name
  # Monitoring: each host's Prometheus agent remote-writes /metrics to the workspace, scraping with the
  # metrics-scope key of this third SecureString parameter (modules/monitoring/README.md).
  amp_remote_write           = var.enable_monitoring ? module.monitoring[0].remote_write : null
  metrics_key_parameter_name = var.metrics_key_parameter_name

  certificate_arn  = var.certificate_arn
  min_size         = var.min_size
  max_size         = var.max_size
  desired_capacity = var.min_size
  alarm_email      = var.alarm_email
  # The ALB is reachable from allowed_cidrs: /metrics and the dashboard's figures need a key with the
  # metrics scope there (Prometheus sends one that can do nothing else: monitoring/prometheus.yml,
  # "authorization"; docs/operations.md, "Monitoring").
  extra_settings = { CREDITSCORE_METRICS_PUBLIC = "false" }
  tags           = local.tags
}

# Amazon Managed Service for Prometheus: the hosts' metrics, the repository's recording and alerting rules,
# every alert to the alarm topic (modules/monitoring/README.md).
module "monitoring" {
  source = "../../modules/monitoring"
  count  = var.enable_monitoring ? 1 : 0

  name_prefix     = local.name_prefix
  environment     = var.environment
  kms_key_arn     = module.data.kms_key_arn
  rules_dir       = "${path.root}/../../monitoring/rules"
  alarm_topic_arn = module.compute.alarm_topic_arn
  enable_grafana  = var.enable_grafana
  tags            = local.tags
}

module "ml" {
  source = "../../modules/ml"

  name_prefix                = local.name_prefix
  kms_key_arn                = module.data.kms_key_arn
  raw_bucket                 = module.data.raw_bucket
  raw_bucket_arn             = module.data.raw_bucket_arn
  cleaned_bucket             = module.data.cleaned_bucket
  cleaned_bucket_arn         = module.data.cleaned_bucket_arn
  models_bucket              = module.data.models_bucket
  models_bucket_arn          = module.data.models_bucket_arn
  artifacts_bucket           = module.data.artifacts_bucket
  artifacts_bucket_arn       = module.data.artifacts_bucket_arn
  customers_table_name       = module.data.customers_table_name
  customers_table_arn        = module.data.customers_table_arn
  glue_script_path           = "${path.root}/../../etl/glue_job.py"
  glue_load_script_path      = "${path.root}/../../etl/glue_load_job.py"
  glue_libs_path             = "${local.dist_dir}/glue-libs.zip"
  score_script_path          = "${path.root}/../../training/batch/glue_score_job.py"
  score_wheel_path           = "${local.dist_dir}/${local.wheel}"
  training_source_path       = "${local.dist_dir}/training-source.tar.gz"
  enable_event_trigger       = var.enable_event_trigger
  enable_retraining_schedule = var.enable_retraining_schedule
  training_image_uri         = var.training_image_uri
  retraining_publish         = var.retraining_publish
  # A failed or gated retraining run notifies the service's alarm topic.
  alarm_topic_arn = module.compute.alarm_topic_arn
  tags            = local.tags
}
