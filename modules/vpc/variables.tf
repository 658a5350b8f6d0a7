variable "name_prefix" {
  description = "Prefix of every resource name, `{project}-{env}` (for example `creditscore-dev`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-42 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource of the module."
  type        = map(string)
  default     = {}
}

variable "cidr_block" {
  description = "IPv4 CIDR block of the VPC, a network address with a prefix length from /16 to /24. Each subnet gets 1/16 of it."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.cidr_block, 0)) &&
      can(regex("^[0-9.]+/[0-9]+$", var.cidr_block)) &&
      try(tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24, false) &&
      try(cidrsubnet(var.cidr_block, 0, 0) == var.cidr_block, false)
    )
    error_message = "cidr_block must be an IPv4 network address in CIDR notation with a prefix length from /16 to /24, for example 10.20.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones by name, in subnet order (for example [\"ap-southeast-1a\", \"ap-southeast-1b\"]): the subnets stay in exactly these zones, whatever AWS adds to the region later. Null: the first `az_count` available zones, in name order, among the region's zones a to h."
  type        = list(string)
  default     = null

  validation {
    condition = var.azs == null || try(
      length(var.azs) >= 2 && length(var.azs) <= 8 && length(distinct(var.azs)) == length(var.azs) &&
      alltrue([for zone in var.azs : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", zone))]),
      false
    )
    error_message = "azs must be null or 2-8 distinct availability-zone names such as ap-southeast-1a."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over when `azs` is null: one public and one private subnet in each. Ignored when `azs` is given."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 8 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 8."
  }
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway (with an Elastic IP) in the first public subnet and route the private subnets' internet traffic through it."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow-log group keeps its events. One of the values CloudWatch Logs accepts; 0 keeps them forever."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "flow_log_traffic_type" {
  description = "Traffic the flow log records: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key (whose policy lets CloudWatch Logs use it) to encrypt the flow-log group with. null: the module creates its own key, with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period, in days, before the module's own flow-log KMS key is deleted (used only when log_kms_key_arn is null)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number from 7 to 30."
  }
}
