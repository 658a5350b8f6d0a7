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
  default     = "prod"

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
  description = "CIDRs that may reach the load balancer's HTTPS listener; 0.0.0.0/0 for a public API."
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
  description = "Instance type of the API hosts (one service worker per vCPU)."
  type        = string
  default     = "c6i.large"
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the load balancer's HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "min_size" {
  description = "Fewest API hosts (spread over the AZs)."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "Most API hosts target tracking may scale out to."
  type        = number
  default     = 6
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (5xx rate, p99 latency, unhealthy hosts); null for none."
  type        = string
  default     = null
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
  description = "Also retrain every model weekly (an EventBridge Scheduler schedule starting the retraining state machine on the newest loaded snapshot), besides after each new snapshot; needs training_image_uri."
  type        = bool
  default     = true
}

variable "training_image_uri" {
  description = "SageMaker training image (a PyTorch framework image with Python 3.11) of retraining: after each new snapshot and on the schedule. Null: no retraining at all, and enable_retraining_schedule must be false."
  type        = string
  default     = null
}

variable "retraining_publish" {
  description = "A version a retraining job trains and the quality gate lets in becomes the model's shadow challenger (`challenger`, this default): scored beside every request, deciding nothing until `creditscore models challenge MODEL --promote` after `creditscore models compare`; `current` makes it current at once (modules/ml `retraining_publish`)."
  type        = string
  default     = "challenger"
}

variable "enable_monitoring" {
  description = "Deploy Amazon Managed Service for Prometheus (modules/monitoring: the rules, alerts to the alarm topic) and a metrics collector on every API host; needs the metrics-key parameter before the hosts boot."
  type        = bool
  default     = true
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
