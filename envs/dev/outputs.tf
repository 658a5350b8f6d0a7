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

output "instance_id" {
  description = "The API host, for SSM Session Manager (aws ssm start-session --target ...)."
  value       = module.compute.instance_id
}
