variable "project" {
  description = "Project name, first half of every resource name (the service's CREDITSCORE_PROJECT)."
  type        = string
  default     = "creditscore"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.project))
    error_message = "project must be lowercase letters, digits and '-', 2-32 characters."
  }
}

variable "environment" {
  description = "Environment name, second half of every resource name (the service's CREDITSCORE_ENV)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.environment))
    error_message = "environment must be lowercase letters, digits and '-', 2-32 characters."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "ap-southeast-1"
}

variable "allowed_cidrs" {
  description = "CIDRs that may call the API on its port (dev has no load balancer): your office or VPN, never 0.0.0.0/0 for real data."
  type        = list(string)

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "allowed_cidrs must be CIDR blocks such as 203.0.113.0/24."
  }
}

variable "azs" {
  description = "Availability zones of the subnets, by name (for example [\"ap-southeast-1a\", \"ap-southeast-1b\"]): pinned, so that the subnets never move. Null: the region's first two available zones among a to h."
  type        = list(string)
  default     = null
  validation {
    condition     = var.azs == null || try(length(var.azs) >= 2 && alltrue([for zone in var.azs : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", zone))]), false)
    error_message = "azs must be null or at least two availability-zone names, such as ap-southeast-1a and ap-southeast-1b."
  }
}

variable "api_keys_parameter_name" {
  description = "SSM SecureString parameter holding CREDITSCORE_API_KEYS, created before the first apply. Null: /{project}-{environment}/api-keys."
  type        = string
  default     = null
  validation {
    condition     = var.api_keys_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.api_keys_parameter_name))
    error_message = "api_keys_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "pseudonym_key_parameter_name" {
  description = "SSM SecureString parameter holding CREDITSCORE_PSEUDONYM_KEY (32+ characters, `openssl rand -base64 48`), created before the first apply. Null: /{project}-{environment}/pseudonym-key."
  type        = string
  default     = null
  validation {
    condition     = var.pseudonym_key_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.pseudonym_key_parameter_name))
    error_message = "pseudonym_key_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "instance_type" {
  description = "Instance type of the one API host."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI of the API host; null = the latest Amazon Linux 2023 (x86_64) from AWS's public SSM parameter."
  type        = string
  default     = null
}

variable "detailed_monitoring" {
  description = "One-minute EC2 metrics on the API host."
  type        = bool
  default     = true
}

variable "dist_dir" {
  description = "Directory holding `make dist`'s output: the service wheel, its requirements.txt (hashed) and glue-libs.zip."
  type        = string
  default     = null
}

variable "enable_event_trigger" {
  description = "Start the Glue ETL when new raw objects land (EventBridge rule, Glue workflow)."
  type        = bool
  default     = true
}

variable "enable_retraining_schedule" {
  description = "Also retrain every model on a schedule (an EventBridge Scheduler schedule starting the retraining state machine); needs training_image_uri."
  type        = bool
  default     = false
}

variable "training_image_uri" {
  description = "SageMaker training image (a PyTorch framework image with Python 3.11) of retraining after each new snapshot (and on the schedule). Null: no retraining in dev."
  type        = string
  default     = null
}

variable "retraining_publish" {
  description = "In dev a version the quality gate lets in becomes current at once (`current`, this default), so a retrained model is served straight away; `challenger` makes it the model's shadow challenger instead, as in prod (modules/ml `retraining_publish`)."
  type        = string
  default     = "current"
}

variable "enable_monitoring" {
  description = "Deploy Amazon Managed Service for Prometheus (modules/monitoring) and a metrics collector on the API host. Off in dev: no alarm topic to notify, and a laptop Prometheus can scrape dev's /metrics directly; on, it needs the metrics-key parameter."
  type        = bool
  default     = false
}

variable "enable_grafana" {
  description = "With enable_monitoring: an Amazon Managed Grafana workspace that may query the Prometheus workspace (needs IAM Identity Center in the account)."
  type        = bool
  default     = false
}

variable "metrics_key_parameter_name" {
  description = "SSM SecureString parameter holding the metrics collector's scrape key (a key of the metrics scope alone), created before the hosts boot when enable_monitoring is true. Null: /{project}-{environment}/metrics-key."
  type        = string
  default     = null
  validation {
    condition     = var.metrics_key_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.metrics_key_parameter_name))
    error_message = "metrics_key_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
