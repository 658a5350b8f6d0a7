output "kms_key_arn" {
  description = "ARN of the data KMS key (buckets, tables; pass it to log groups, Glue and SageMaker roles)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the data KMS key."
  value       = aws_kms_key.this.key_id
}

output "kms_key_alias" {
  description = "Alias of the data KMS key, `alias/{name_prefix}-data`."
  value       = aws_kms_alias.this.name
}

output "raw_bucket" {
  description = "Name of the raw bucket, where raw CSV lands."
  value       = aws_s3_bucket.data["raw"].bucket
}

output "cleaned_bucket" {
  description = "Name of the cleaned bucket (features and quarantine)."
  value       = aws_s3_bucket.data["cleaned"].bucket
}

output "models_bucket" {
  description = "Name of the models bucket (versioned model artifacts)."
  value       = aws_s3_bucket.data["models"].bucket
}

output "artifacts_bucket" {
  description = "Name of the artifacts bucket: the code that runs elsewhere (`releases/`: the service's wheel and hashed requirements; `glue/`: the Glue job's code; `training/`: the training source). Only the deployer writes it; the workload roles are granted reads of their own prefix."
  value       = aws_s3_bucket.data["artifacts"].bucket
}

output "access_logs_bucket" {
  description = "Name of the bucket receiving the data buckets' S3 server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "raw_bucket_arn" {
  description = "ARN of the raw bucket."
  value       = aws_s3_bucket.data["raw"].arn
}

output "cleaned_bucket_arn" {
  description = "ARN of the cleaned bucket."
  value       = aws_s3_bucket.data["cleaned"].arn
}

output "models_bucket_arn" {
  description = "ARN of the models bucket."
  value       = aws_s3_bucket.data["models"].arn
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.data["artifacts"].arn
}

output "access_logs_bucket_arn" {
  description = "ARN of the access-logs bucket."
  value       = aws_s3_bucket.access_logs.arn
}

output "customers_table_name" {
  description = "Name of the customers DynamoDB table."
  value       = aws_dynamodb_table.customers.name
}

output "customers_table_arn" {
  description = "ARN of the customers DynamoDB table (its indexes are under `{arn}/index/*`)."
  value       = aws_dynamodb_table.customers.arn
}

output "score_history_table_name" {
  description = "Name of the score-history DynamoDB table."
  value       = aws_dynamodb_table.score_history.name
}

output "score_history_table_arn" {
  description = "ARN of the score-history DynamoDB table."
  value       = aws_dynamodb_table.score_history.arn
}
