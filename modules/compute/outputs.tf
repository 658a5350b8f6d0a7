output "api_url" {
  description = "Base URL of the scoring API: `http://<public DNS name>:<service_port>` of the instance (single) or `https://<ALB DNS name>` (asg)."
  value = (
    local.single
    ? "http://${aws_instance.this[0].public_dns != "" ? aws_instance.this[0].public_dns : aws_instance.this[0].public_ip}:${var.service_port}"
    : "https://${aws_lb.this[0].dns_name}"
  )
}

output "service_security_group_id" {
  description = "ID of the scoring hosts' security group."
  value       = aws_security_group.service.id
}

output "alb_security_group_id" {
  description = "ID of the ALB's security group (null in single mode)."
  value       = local.asg ? aws_security_group.alb[0].id : null
}

output "instance_role_arn" {
  description = "ARN of the hosts' IAM role."
  value       = aws_iam_role.instance.arn
}

output "instance_role_name" {
  description = "Name of the hosts' IAM role (to attach further policies from an environment)."
  value       = aws_iam_role.instance.name
}

output "instance_profile_name" {
  description = "Name of the hosts' instance profile."
  value       = aws_iam_instance_profile.this.name
}

output "launch_template_id" {
  description = "ID of the hosts' launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_latest_version" {
  description = "Latest version of the hosts' launch template."
  value       = aws_launch_template.this.latest_version
}

output "instance_id" {
  description = "ID of the single instance (null in asg mode)."
  value       = local.single ? aws_instance.this[0].id : null
}

output "asg_name" {
  description = "Name of the Auto Scaling group (null in single mode)."
  value       = local.asg ? aws_autoscaling_group.this[0].name : null
}

output "alb_dns_name" {
  description = "DNS name of the ALB, for the certificate's DNS record (null in single mode)."
  value       = local.asg ? aws_lb.this[0].dns_name : null
}

output "alb_zone_id" {
  description = "Route 53 hosted zone of the ALB, for an alias record (null in single mode)."
  value       = local.asg ? aws_lb.this[0].zone_id : null
}

output "target_group_arn" {
  description = "ARN of the target group (null in single mode)."
  value       = local.asg ? aws_lb_target_group.this[0].arn : null
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify (null in single mode). Known at plan time (built from the topic's name), available once the topic exists."
  value       = local.asg ? local.alarm_topic_arn : null
  depends_on  = [aws_sns_topic.alarms]
}

output "log_group_name" {
  description = "CloudWatch log group of the service and bootstrap logs (streams `{instance_id}/service`, `{instance_id}/bootstrap`)."
  value       = aws_cloudwatch_log_group.service.name
}

output "api_keys_parameter_name" {
  description = "Name of the SSM SecureString parameter the hosts read CREDITSCORE_API_KEYS from (create it before the hosts boot)."
  value       = local.api_keys_parameter_name
}

output "pseudonym_key_parameter_name" {
  description = "Name of the SSM SecureString parameter the hosts read CREDITSCORE_PSEUDONYM_KEY from (create it before the hosts boot)."
  value       = local.pseudonym_key_parameter_name
}

output "metrics_key_parameter_name" {
  description = "Name of the SSM SecureString parameter the hosts' metrics collector reads its scrape key (a key of the metrics scope) from; null when there is no collector (`amp_remote_write` null)."
  value       = local.collector ? local.metrics_key_parameter_name : null
}

output "metrics_collector" {
  description = "The hosts' metrics collector (null when `amp_remote_write` is null): the Prometheus agent's version and where it remote-writes."
  value = local.collector ? {
    prometheus_version = var.prometheus_version
    remote_write_url   = var.amp_remote_write.url
    workspace_arn      = var.amp_remote_write.workspace_arn
  } : null
}

output "release" {
  description = "What the hosts install: the release and its requirements (keys in `artifacts_bucket`) and the sha256 each must have."
  value = {
    bucket              = var.artifacts_bucket
    key                 = var.release_key
    sha256              = var.release_sha256
    requirements_key    = var.release_requirements_key
    requirements_sha256 = var.release_requirements_sha256
  }
}
