################################################################################
# Naming
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name, `{project}-{environment}` (for example `creditscore-prod`): the workspace alias, the log group `/aws/vendedlogs/prometheus/{name_prefix}`, the Grafana workspace and its role."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-42 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, ...), written into every alert notification's subject so that on-call sees which environment fires."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.environment))
    error_message = "environment must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource of the module."
  type        = map(string)
  default     = {}
}

################################################################################
# Workspace
################################################################################

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key (modules/data `kms_key_arn`) that encrypts the workspace's metrics and the workspace's log group. Its key policy must let CloudWatch Logs use it (modules/data's does)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "rules_dir" {
  description = "Directory of the Prometheus rule files (the repository's `monitoring/rules`): every `*.yml` / `*.yaml` file in it becomes one rule groups namespace of the same name, its content loaded as is. promtool unit-test files (`*_test.yml`, kept in `monitoring/tests`) are skipped."
  type        = string

  validation {
    condition     = length(fileset(var.rules_dir, "*.{yml,yaml}")) > 0
    error_message = "rules_dir must hold at least one *.yml or *.yaml rule file."
  }
}

variable "log_retention_days" {
  description = "Days the workspace's log group (rule evaluation and alert manager errors, remote-write throttling) keeps events. One of the values CloudWatch Logs accepts."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# Alert manager
################################################################################

variable "alarm_topic_arn" {
  description = "SNS topic every alert is routed to (modules/compute `alarm_topic_arn`, the topic of the CloudWatch alarms). Its topic policy must let `aps.amazonaws.com` publish from this workspace (modules/compute adds that statement when its `amp_remote_write` is set) and, when the topic is KMS-encrypted, its key policy must let `aps.amazonaws.com` use the key (modules/data's does). Null: no alert manager definition; the alerting rules still evaluate (the `ALERTS` series, Grafana) but notify no one."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be null or an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)."
  }
}

variable "alert_group_by" {
  description = "Labels the alert manager groups alerts by: one notification per group."
  type        = list(string)
  default     = ["alertname", "severity"]
}

variable "alert_repeat_interval" {
  description = "How often the alert manager notifies again about a `warning` alert that is still firing (a Prometheus duration; at most 5 days in Amazon Managed Service for Prometheus)."
  type        = string
  default     = "12h"

  validation {
    condition     = can(regex("^[0-9]+[mh]$", var.alert_repeat_interval))
    error_message = "alert_repeat_interval must be a whole number of minutes or hours, such as 30m or 12h."
  }
}

variable "critical_repeat_interval" {
  description = "How often the alert manager notifies again about a `critical` alert (clients failing now) that is still firing."
  type        = string
  default     = "1h"

  validation {
    condition     = can(regex("^[0-9]+[mh]$", var.critical_repeat_interval))
    error_message = "critical_repeat_interval must be a whole number of minutes or hours, such as 30m or 1h."
  }
}

################################################################################
# Amazon Managed Grafana (optional)
################################################################################

variable "enable_grafana" {
  description = "Create an Amazon Managed Grafana workspace whose role may query this Prometheus workspace (and only it). It needs IAM Identity Center (`AWS_SSO`) or SAML in the account for sign-in; the data source and the dashboard are added in Grafana itself (README)."
  type        = bool
  default     = false
}

variable "grafana_authentication_providers" {
  description = "How users sign in to the Grafana workspace: `AWS_SSO` (IAM Identity Center) and/or `SAML`."
  type        = list(string)
  default     = ["AWS_SSO"]

  validation {
    condition     = length(var.grafana_authentication_providers) > 0 && alltrue([for p in var.grafana_authentication_providers : contains(["AWS_SSO", "SAML"], p)])
    error_message = "grafana_authentication_providers must list AWS_SSO and/or SAML."
  }
}

variable "grafana_version" {
  description = "Grafana version of the Managed Grafana workspace (the dashboard in monitoring/grafana needs 10 or later)."
  type        = string
  default     = "10.4"

  validation {
    condition     = can(regex("^(1[0-9])\\.[0-9]+$", var.grafana_version))
    error_message = "grafana_version must be 10.x or later, such as 10.4."
  }
}
