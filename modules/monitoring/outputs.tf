output "workspace_id" {
  description = "ID of the Amazon Managed Service for Prometheus workspace (ws-...)."
  value       = aws_prometheus_workspace.this.id
}

output "workspace_arn" {
  description = "ARN of the workspace: the hosts' role gets aps:RemoteWrite on it, the alarm topic lets it publish."
  value       = aws_prometheus_workspace.this.arn
}

output "prometheus_endpoint" {
  description = "The workspace's Prometheus-compatible endpoint (`https://aps-workspaces.{region}.amazonaws.com/workspaces/{id}/`): the URL of a Grafana Prometheus data source with SigV4 auth."
  value       = aws_prometheus_workspace.this.prometheus_endpoint
}

output "remote_write_url" {
  description = "Remote-write URL of the workspace (`{prometheus_endpoint}api/v1/remote_write`)."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

output "query_url" {
  description = "Instant-query URL of the workspace (`{prometheus_endpoint}api/v1/query`), SigV4-signed (`awscurl --service aps`)."
  value       = local.query_url
}

output "console_url" {
  description = "The workspace in the AWS console (rules, alert manager, logging)."
  value       = local.console_url
}

# An object literal, so that modules/compute knows at plan time that the collector is on even while the
# workspace's ARN and URL are still unknown (first apply).
output "remote_write" {
  description = "What modules/compute's `amp_remote_write` takes: the workspace ARN and the remote-write URL."
  value = {
    workspace_arn = aws_prometheus_workspace.this.arn
    url           = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
  }
}

output "rule_namespaces" {
  description = "Rule groups namespaces loaded into the workspace, by name, with the rule file each came from."
  value       = { for name, namespace in aws_prometheus_rule_group_namespace.this : name => local.rule_files[name] }
}

output "log_group_name" {
  description = "CloudWatch log group of the workspace's vended logs (rule evaluation, alert manager, ingestion errors)."
  value       = aws_cloudwatch_log_group.workspace.name
}

output "alert_manager_topic_arn" {
  description = "SNS topic the alert manager routes every alert to (null: no alert manager definition)."
  value       = var.alarm_topic_arn
}

output "grafana_workspace_id" {
  description = "ID of the Managed Grafana workspace (null unless enable_grafana)."
  value       = var.enable_grafana ? aws_grafana_workspace.this[0].id : null
}

output "grafana_url" {
  description = "URL of the Managed Grafana workspace (null unless enable_grafana)."
  value       = var.enable_grafana ? "https://${aws_grafana_workspace.this[0].endpoint}" : null
}

output "grafana_role_arn" {
  description = "Role the Managed Grafana workspace queries the Prometheus workspace with (null unless enable_grafana)."
  value       = var.enable_grafana ? aws_iam_role.grafana[0].arn : null
}
