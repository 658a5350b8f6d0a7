output "glue_job_name" {
  description = "Name of the Glue ETL job."
  value       = aws_glue_job.etl.name
}

output "glue_job_arn" {
  description = "ARN of the Glue ETL job."
  value       = aws_glue_job.etl.arn
}

output "glue_role_arn" {
  description = "ARN of the Glue job's IAM role."
  value       = aws_iam_role.glue.arn
}

output "glue_security_configuration_name" {
  description = "Name of the Glue security configuration (SSE-KMS S3 and CloudWatch, CSE-KMS bookmarks)."
  value       = aws_glue_security_configuration.this.name
}

output "glue_script_s3_uri" {
  description = "S3 URI of the uploaded Glue entry point (in the artifacts bucket)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_script.key}"
}

output "glue_libs_s3_uri" {
  description = "S3 URI of the uploaded libs zip (--extra-py-files; in the artifacts bucket)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_libs.key}"
}

output "glue_catalog_database_name" {
  description = "Name of the Glue Data Catalog database (null when create_catalog_database is false)."
  value       = var.create_catalog_database ? aws_glue_catalog_database.this[0].name : null
}

output "glue_workflow_name" {
  description = "Name of the Glue workflow the raw-object events start (null when enable_event_trigger is false)."
  value       = var.enable_event_trigger ? aws_glue_workflow.etl[0].name : null
}

output "raw_object_rule_name" {
  description = "Name of the EventBridge rule on the raw bucket's Object Created events (null when enable_event_trigger is false)."
  value       = var.enable_event_trigger ? aws_cloudwatch_event_rule.raw_object_created[0].name : null
}

output "sagemaker_role_arn" {
  description = "ARN of the SageMaker execution role for training jobs (training/sagemaker.py)."
  value       = aws_iam_role.sagemaker.arn
}

output "retraining_schedule_group_name" {
  description = "Name of the EventBridge Scheduler group of the retraining schedules (null when enable_retraining_schedule is false)."
  value       = var.enable_retraining_schedule ? aws_scheduler_schedule_group.retraining[0].name : null
}

output "retraining_schedule_names" {
  description = "Retraining schedules by model, each in the schedule group (null when enable_retraining_schedule is false)."
  value       = var.enable_retraining_schedule ? { for m, s in aws_scheduler_schedule.retraining : m => s.name } : null
}

output "log_group_names" {
  description = "CloudWatch log groups the module creates: the Glue job's output and error groups (--custom-logGroup-prefix). SageMaker writes to the AWS-owned /aws/sagemaker/TrainingJobs."
  value       = [for g in aws_cloudwatch_log_group.glue : g.name]
}
