variable "name_prefix" {
  description = "Prefix of every resource name, `{project}-{env}` (for example `creditscore-dev`). Buckets are `{name_prefix}-raw`, `-cleaned`, `-models`, `-artifacts`, `-access-logs`; tables `{name_prefix}-customers` and `-score-history`."
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

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets even when they hold objects (every version). Keep false in production; dev and test environments set true."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Enable DynamoDB deletion protection on both tables (they cannot be deleted until it is turned off)."
  type        = bool
  default     = true
}

variable "raw_transition_days" {
  description = "Days after creation that raw objects move to STANDARD_IA (S3 requires at least 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_transition_days >= 30 && floor(var.raw_transition_days) == var.raw_transition_days
    error_message = "raw_transition_days must be a whole number of at least 30 (the STANDARD_IA minimum)."
  }
}

variable "raw_glacier_days" {
  description = "Days after creation that raw objects move to GLACIER; at least raw_transition_days + 30 (objects stay 30 days in STANDARD_IA)."
  type        = number
  default     = 180

  validation {
    condition     = var.raw_glacier_days >= 60 && floor(var.raw_glacier_days) == var.raw_glacier_days
    error_message = "raw_glacier_days must be a whole number of at least 60."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after an object version stops being current that it is deleted, on every bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "access_logs_expiration_days" {
  description = "Days the S3 server-access logs are kept in the access-logs bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_logs_expiration_days >= 1 && floor(var.access_logs_expiration_days) == var.access_logs_expiration_days
    error_message = "access_logs_expiration_days must be a whole number of at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period, in days, before the data KMS key is deleted after it is scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number from 7 to 30."
  }
}
