output "api_url" {
  description = "Base URL of the scoring API (curl $api_url/health)."
  value       = module.compute.api_url
}

output "raw_bucket" {
  description = "Bucket where raw CSV lands (CREDITSCORE_RAW_BUCKET)."
  value       = module.data.raw_bucket
}

output "cleaned_bucket" {
  description = "Bucket of cleaned features and quarantine (CREDITSCORE_CLEANED_BUCKET)."
  value       = module.data.cleaned_bucket
}

output "models_bucket" {
  description = "Bucket of model versions (CREDITSCORE_MODELS_BUCKET)."
  value       = module.data.models_bucket
}

output "artifacts_bucket" {
  description = "Bucket of the code that runs elsewhere: service releases (releases/), the Glue job's code (glue/), the training source (training/). Only the deployer writes it."
  value       = module.data.artifacts_bucket
}

output "customers_table" {
  description = "DynamoDB customers table (CREDITSCORE_CUSTOMERS_TABLE)."
  value       = module.data.customers_table_name
}

output "score_history_table" {
  description = "DynamoDB score-history table (CREDITSCORE_SCORE_HISTORY_TABLE)."
  value       = module.data.score_history_table_name
}

output "api_keys_parameter" {
  description = "SSM SecureString the hosts read CREDITSCORE_API_KEYS from; put `creditscore apikey new` entries there."
  value       = module.compute.api_keys_parameter_name
}

output "pseudonym_key_parameter" {
  description = "SSM SecureString the hosts read CREDITSCORE_PSEUDONYM_KEY (the HMAC key of log pseudonyms) from; create it before the first apply."
  value       = module.compute.pseudonym_key_parameter_name
}

output "glue_job_name" {
  description = "The Glue ETL job."
  value       = module.ml.glue_job_name
}

output "glue_load_job_name" {
  description = "The Glue load job (the newest snapshot into the customers table, then snapshots/latest.json): aws glue start-job-run --job-name ..."
  value       = module.ml.glue_load_job_name
}

output "retraining_state_machine_arn" {
  description = "The retraining state machine (null without training_image_uri): aws stepfunctions start-execution --state-machine-arn ..."
  value       = module.ml.retraining_state_machine_arn
}

output "alb_dns_name" {
  description = "The load balancer's DNS name: point the API's DNS record (alias) at it."
  value       = module.compute.alb_dns_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the service's alarms."
  value       = module.compute.alarm_topic_arn
}

output "monitoring" {
  description = "Amazon Managed Service for Prometheus (null unless enable_monitoring): the workspace, its endpoints, the console, Grafana, the metrics-key parameter, and a query to check that samples arrive."
  value = var.enable_monitoring ? {
    workspace_id          = module.monitoring[0].workspace_id
    prometheus_endpoint   = module.monitoring[0].prometheus_endpoint
    query_url             = module.monitoring[0].query_url
    console_url           = module.monitoring[0].console_url
    grafana_url           = module.monitoring[0].grafana_url
    metrics_key_parameter = module.compute.metrics_key_parameter_name
    check                 = "awscurl --service aps --region ${var.region} '${module.monitoring[0].query_url}?query=up'"
  } : null
}
