output "glue_job_name" {
  description = "Name of the Glue ETL job."
  value       = aws_glue_job.etl.name
}

output "glue_job_arn" {
  description = "ARN of the Glue ETL job."
  value       = aws_glue_job.etl.arn
}

output "glue_load_job_name" {
  description = "Name of the Glue load job (the newest snapshot into the customers table, then snapshots/latest.json)."
  value       = aws_glue_job.load.name
}

output "glue_load_job_arn" {
  description = "ARN of the Glue load job."
  value       = aws_glue_job.load.arn
}

output "glue_role_arn" {
  description = "ARN of the Glue jobs' IAM role (the ETL and the load)."
  value       = aws_iam_role.glue.arn
}

output "score_job_name" {
  description = "Name of the on-demand score-book Glue job: aws glue start-job-run --job-name ... --arguments '{\"--MODEL\":...,\"--INPUT\":...,\"--OUTPUT\":...}'."
  value       = aws_glue_job.score_book.name
}

output "score_job_arn" {
  description = "ARN of the score-book Glue job (for a schedule or a caller's glue:StartJobRun)."
  value       = aws_glue_job.score_book.arn
}

output "score_role_arn" {
  description = "ARN of the score-book job's IAM role: reads the models bucket and the books prefix, writes the scores prefix."
  value       = aws_iam_role.glue_score.arn
}

output "score_input_s3_prefix" {
  description = "Where books to score go (the job's --INPUT must lie under it)."
  value       = "s3://${var.cleaned_bucket}/${var.score_input_prefix}"
}

output "score_output_s3_prefix" {
  description = "Where the job's --OUTPUT and --REJECTS must lie."
  value       = "s3://${var.cleaned_bucket}/${var.score_output_prefix}"
}

output "score_script_s3_uri" {
  description = "Where the score-book job's script is, in the artifacts bucket."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.score_script.key}"
}

output "score_wheel_s3_uri" {
  description = "Where the wheel the score-book job installs is, in the artifacts bucket."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.score_wheel.key}"
}

output "glue_security_configuration_name" {
  description = "Name of the Glue security configuration (SSE-KMS S3 and CloudWatch, CSE-KMS bookmarks)."
  value       = aws_glue_security_configuration.this.name
}

output "glue_script_s3_uri" {
  description = "S3 URI of the uploaded Glue entry point (in the artifacts bucket)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_script.key}"
}

output "glue_load_script_s3_uri" {
  description = "S3 URI of the uploaded load job entry point (in the artifacts bucket)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.glue_load_script.key}"
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
  description = "Name of the Glue workflow the raw-object events start: the ETL, then the load (null when enable_event_trigger is false)."
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

output "snapshot_pointer_key" {
  description = "Key in the cleaned bucket of the pointer the load job writes last and retraining reads: {\"snapshot\", \"features\", \"loaded_at\"}."
  value       = local.snapshot_pointer_key
}

output "snapshot_pointer_s3_uri" {
  description = "S3 URI of that pointer."
  value       = "s3://${var.cleaned_bucket}/${local.snapshot_pointer_key}"
}

output "retraining_state_machine_arn" {
  description = "ARN of the retraining state machine (null without training_image_uri): aws stepfunctions start-execution --state-machine-arn ..."
  value       = one(aws_sfn_state_machine.retraining[*].arn)
}

output "retraining_state_machine_name" {
  description = "Name of the retraining state machine (null without training_image_uri)."
  value       = one(aws_sfn_state_machine.retraining[*].name)
}

output "retraining_alarm_name" {
  description = "CloudWatch alarm on the state machine's failed executions (null without training_image_uri)."
  value       = one(aws_cloudwatch_metric_alarm.retraining_failed[*].alarm_name)
}

output "retraining_rule_name" {
  description = "EventBridge rule that starts retraining when the load job succeeds (null without training_image_uri or when retrain_on_new_snapshot is false)."
  value       = one(aws_cloudwatch_event_rule.new_snapshot[*].name)
}

output "retraining_schedule_group_name" {
  description = "EventBridge Scheduler group of the retraining schedule (null when enable_retraining_schedule is false)."
  value       = one(aws_scheduler_schedule_group.retraining[*].name)
}

output "retraining_schedule_name" {
  description = "The retraining schedule, in that group; it starts the state machine (null when enable_retraining_schedule is false)."
  value       = one(aws_scheduler_schedule.retraining[*].name)
}

output "log_group_names" {
  description = "CloudWatch log groups the module creates: the Glue jobs' output and error groups (--custom-logGroup-prefix) and the state machine's execution log (with training_image_uri). SageMaker writes to the AWS-owned /aws/sagemaker/TrainingJobs."
  value       = concat([for g in aws_cloudwatch_log_group.glue : g.name], aws_cloudwatch_log_group.retraining[*].name)
}

output "training_source_s3_uri" {
  description = "Where the training jobs' source is (sagemaker_submit_directory); null unless training_source_path uploads it."
  value       = var.training_source_path == null ? null : "s3://${var.artifacts_bucket}/${aws_s3_object.training_source[0].key}"
}
