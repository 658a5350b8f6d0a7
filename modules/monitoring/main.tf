data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  # One rule groups namespace per rule file, named after it (alerts.yml -> "alerts"). promtool's unit-test
  # files live in monitoring/tests, not here; a *_test file that strays into the directory is skipped all
  # the same, since Amazon Managed Service for Prometheus would refuse it as a rule file.
  rule_files = {
    for file in fileset(var.rules_dir, "*.{yml,yaml}") :
    trimsuffix(trimsuffix(file, ".yml"), ".yaml") => "${var.rules_dir}/${file}"
    if !endswith(trimsuffix(trimsuffix(file, ".yml"), ".yaml"), "_test")
  }

  alert_manager = var.alarm_topic_arn != null

  # Amazon Managed Service for Prometheus' alert manager file: the Alertmanager configuration as a string
  # under alertmanager_config. Every alert goes to the one SNS receiver, grouped by alertname and severity;
  # critical alerts (clients failing now) are repeated more often than warnings.
  alertmanager_config = {
    route = {
      receiver        = "sns"
      group_by        = var.alert_group_by
      group_wait      = "30s"
      group_interval  = "5m"
      repeat_interval = var.alert_repeat_interval
      routes = [
        {
          receiver        = "sns"
          matchers        = ["severity=\"critical\""]
          repeat_interval = var.critical_repeat_interval
        },
      ]
    }
    receivers = [
      {
        name = "sns"
        sns_configs = [
          {
            topic_arn     = var.alarm_topic_arn
            sigv4         = { region = local.region }
            subject       = "[${var.environment}] {{ .Status | toUpper }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
            send_resolved = true
          },
        ]
      },
    ]
  }

  query_url   = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/query"
  console_url = "https://${local.region}.console.aws.amazon.com/prometheus/home?region=${local.region}#/workspaces/workspace/${aws_prometheus_workspace.this.id}"
}

################################################################################
# Workspace: metrics encrypted with the project key, logs to a KMS-encrypted log group
################################################################################

# Vended logs of the workspace: rule evaluation and alert manager errors, remote-write throttling. The
# /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy the service writes with short.
resource "aws_cloudwatch_log_group" "workspace" {
  name              = "/aws/vendedlogs/prometheus/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_prometheus_workspace" "this" {
  alias       = var.name_prefix
  kms_key_arn = var.kms_key_arn
  tags        = merge(var.tags, { Name = var.name_prefix })

  logging_configuration {
    # The service writes to every stream of the group: the ARN must end in ":*".
    log_group_arn = "${aws_cloudwatch_log_group.workspace.arn}:*"
  }
}

# The repository's recording and alerting rules (monitoring/rules), exactly as promtool tests them.
resource "aws_prometheus_rule_group_namespace" "this" {
  for_each = local.rule_files

  name         = each.key
  workspace_id = aws_prometheus_workspace.this.id
  data         = file(each.value)
  tags         = var.tags
}

resource "aws_prometheus_alert_manager_definition" "this" {
  count = local.alert_manager ? 1 : 0

  workspace_id = aws_prometheus_workspace.this.id
  definition   = yamlencode({ alertmanager_config = yamlencode(local.alertmanager_config) })
}

################################################################################
# Amazon Managed Grafana (optional): a workspace whose role queries this Prometheus workspace only
################################################################################

data "aws_iam_policy_document" "grafana_assume" {
  count = var.enable_grafana ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["grafana.amazonaws.com"]
    }

    # Only this account's Grafana workspaces (the workspace's own ARN is not known before the role).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:grafana:${local.region}:${local.account_id}:/workspaces/*"]
    }
  }
}

resource "aws_iam_role" "grafana" {
  count = var.enable_grafana ? 1 : 0

  name                 = "${var.name_prefix}-grafana"
  description          = "Amazon Managed Grafana of ${var.name_prefix}: query the ${var.name_prefix} Prometheus workspace"
  assume_role_policy   = data.aws_iam_policy_document.grafana_assume[0].json
  max_session_duration = 3600
  tags                 = var.tags
}

# AmazonPrometheusQueryAccess's actions, on this workspace instead of every workspace of the account.
data "aws_iam_policy_document" "grafana" {
  count = var.enable_grafana ? 1 : 0

  statement {
    sid       = "QueryThisWorkspace"
    actions   = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata", "aps:DescribeWorkspace"]
    resources = [aws_prometheus_workspace.this.arn]
  }

  # Grafana's AWS data source page lists the workspaces to pick from; ListWorkspaces has no resource-level
  # permission.
  statement {
    sid       = "ListWorkspaces"
    actions   = ["aps:ListWorkspaces"]
    resources = ["*"]
  }

  # The workspace's metrics are encrypted with the project key: queries decrypt through the service only.
  statement {
    sid       = "DecryptThroughPrometheus"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["aps.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "grafana" {
  count = var.enable_grafana ? 1 : 0

  name   = "query-prometheus"
  role   = aws_iam_role.grafana[0].id
  policy = data.aws_iam_policy_document.grafana[0].json
}

resource "aws_grafana_workspace" "this" {
  count = var.enable_grafana ? 1 : 0

  name                     = var.name_prefix
  description              = "Dashboards of ${var.name_prefix} (monitoring/grafana/creditscore.json) over its Prometheus workspace"
  account_access_type      = "CURRENT_ACCOUNT"
  authentication_providers = var.grafana_authentication_providers
  permission_type          = "CUSTOMER_MANAGED"
  role_arn                 = aws_iam_role.grafana[0].arn
  data_sources             = ["PROMETHEUS"]
  grafana_version          = var.grafana_version
  tags                     = var.tags
}
