################################################################################
# Naming
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name, `{project}-{environment}` (for example `creditscore-dev`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-42 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit."
  }
}

variable "project" {
  description = "Project name, written to the hosts as CREDITSCORE_PROJECT. `name_prefix` must equal `{project}-{environment}`."
  type        = string
  default     = "creditscore"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.project))
    error_message = "project must be lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, ...), written to the hosts as CREDITSCORE_ENV. `name_prefix` must equal `{project}-{environment}`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*$", var.environment))
    error_message = "environment must be lowercase letters and digits, starting with a letter (for example dev or prod)."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource of the module."
  type        = map(string)
  default     = {}
}

################################################################################
# Shape
################################################################################

variable "mode" {
  description = "`single`: one EC2 instance with a public IP in the first public subnet, the service port open to `allowed_cidrs` (dev). `asg`: an Auto Scaling group in the private subnets behind an internet-facing HTTPS ALB, with alarms (prod)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "asg"], var.mode)
    error_message = "mode must be \"single\" or \"asg\"."
  }
}

################################################################################
# Network (from modules/vpc)
################################################################################

variable "vpc_id" {
  description = "ID of the VPC the security groups, target group and hosts belong to."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets: the single instance goes in the first one; the ALB spans all of them (at least two in asg mode)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 1 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "public_subnet_ids must hold at least one subnet ID (subnet-...)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets the Auto Scaling group launches into (asg mode; unused in single mode)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids must be subnet IDs (subnet-...)."
  }
}

variable "allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed in: to the ALB's ports 443 and 80 (asg mode; 0.0.0.0/0 for a public API), or to the service port of the single instance (single mode; 0.0.0.0/0 is refused there because the port is plain HTTP). Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrnetmask(c))])
    error_message = "Every allowed_cidrs entry must be an IPv4 CIDR block such as 203.0.113.0/24."
  }
}

variable "service_port" {
  description = "TCP port the scoring service listens on (CREDITSCORE_PORT) and the target group forwards to."
  type        = number
  default     = 8080

  validation {
    condition     = var.service_port >= 1024 && var.service_port <= 65535 && floor(var.service_port) == var.service_port
    error_message = "service_port must be a whole number from 1024 to 65535 (the service runs as an unprivileged user)."
  }
}

################################################################################
# Data resources (from modules/data)
################################################################################

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key: encrypts the root volumes, the log group and the alarm topic; the hosts may Decrypt/GenerateDataKey with it (S3 and DynamoDB SSE-KMS). Its key policy must let CloudWatch Logs and CloudWatch (alarms to SNS) use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "models_bucket" {
  description = "Name of the models bucket: model versions and their current-version pointers (the service's CREDITSCORE_MODELS_BUCKET)."
  type        = string
}

variable "models_bucket_arn" {
  description = "ARN of the models bucket; the hosts may list it and read its objects."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.models_bucket_arn))
    error_message = "models_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "artifacts_bucket" {
  description = "Name of the artifacts bucket (modules/data `artifacts_bucket`) holding the release (`release_key`) and its requirements (`release_requirements_key`). The hosts may read those two prefixes and are explicitly denied every write to the bucket."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.artifacts_bucket_arn))
    error_message = "artifacts_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "customers_table_arn" {
  description = "ARN of the customers DynamoDB table (its GSIs, `/index/*`, are granted too)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.customers_table_arn))
    error_message = "customers_table_arn must be a DynamoDB table ARN."
  }
}

variable "score_history_table_arn" {
  description = "ARN of the score-history DynamoDB table."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.score_history_table_arn))
    error_message = "score_history_table_arn must be a DynamoDB table ARN."
  }
}

################################################################################
# Hosts
################################################################################

variable "ami_id" {
  description = "AMI of the hosts: Amazon Linux 2023 for x86_64 (the hashed requirements `make dist` writes are for CPython 3.11 on x86_64; `instance_type` must match), resolved by the environment; the bootstrap uses dnf, python3.11, curl and the AWS CLI it ships."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the hosts."
  type        = string
  default     = "t3.small"
}

variable "detailed_monitoring" {
  description = "EC2 detailed (1-minute) monitoring of the hosts."
  type        = bool
  default     = true
}

variable "root_volume_size" {
  description = "Size in GiB of each host's root volume (gp3, encrypted with `kms_key_arn`)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 1024
    error_message = "root_volume_size must be from 8 to 1024 GiB."
  }
}

variable "root_device_name" {
  description = "Device name of the AMI's root volume (/dev/xvda on Amazon Linux 2023)."
  type        = string
  default     = "/dev/xvda"
}

variable "release_key" {
  description = "Key in the artifacts bucket of the release the hosts pip-install at boot: a wheel (or sdist) of the project, `make dist`'s `dist/creditscore-*.whl`. Its file name names the distribution."
  type        = string

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)*[A-Za-z0-9_.]+-[A-Za-z0-9!_.*'()-]+\\.(whl|tar\\.gz)$", var.release_key))
    error_message = "release_key must be an S3 key (no leading slash) of a wheel or sdist file, NAME-VERSION....whl or .tar.gz."
  }
}

variable "release_sha256" {
  description = "sha256 (hex) of the release file (`filesha256()` of the file uploaded to `release_key`). The hosts refuse a release that differs, and install it in pip's hash-checking mode."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.release_sha256))
    error_message = "release_sha256 must be 64 lowercase hex digits."
  }
}

variable "release_requirements_key" {
  description = "Key in the artifacts bucket of the release's requirements (`make dist`'s `dist/requirements.txt`): every package the release depends on, pinned, with the sha256 of each file the index serves for it (and a setuptools pin, the build backend of the dependencies PyPI ships only as source). The hosts install with `pip install --require-hashes` against it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*\\.txt$", var.release_requirements_key))
    error_message = "release_requirements_key must be an S3 key (no leading slash) ending in .txt."
  }
}

variable "release_requirements_sha256" {
  description = "sha256 (hex) of the requirements file at `release_requirements_key`: the hosts refuse one that differs, so the hashes in it are the ones Terraform was given."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.release_requirements_sha256))
    error_message = "release_requirements_sha256 must be 64 lowercase hex digits."
  }
}

variable "torch_index_url" {
  description = "Extra package index the hosts install the release with, for torch's CPU build (PyPI's is the CUDA one)."
  type        = string
  default     = "https://download.pytorch.org/whl/cpu"

  validation {
    condition     = can(regex("^https://", var.torch_index_url))
    error_message = "torch_index_url must be an https:// URL."
  }
}

variable "api_keys_parameter_name" {
  description = "Name of the SSM SecureString parameter holding CREDITSCORE_API_KEYS (comma-separated `sha256hex:scope` entries from `creditscore apikey new`). Null: `/{name_prefix}/api-keys`. Created outside Terraform so that no key reaches the state."
  type        = string
  default     = null

  validation {
    condition     = var.api_keys_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.api_keys_parameter_name))
    error_message = "api_keys_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "api_keys_kms_key_arn" {
  description = "KMS key that encrypts the API-keys parameter, when it is neither `kms_key_arn` nor the AWS-managed aws/ssm key. Null: the parameter uses one of those two."
  type        = string
  default     = null

  validation {
    condition     = var.api_keys_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.api_keys_kms_key_arn))
    error_message = "api_keys_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "pseudonym_key_parameter_name" {
  description = "Name of the SSM SecureString parameter holding CREDITSCORE_PSEUDONYM_KEY, the HMAC key of the pseudonyms log lines and history cursors carry instead of national IDs (32 or more characters of A-Z a-z 0-9 + / = _ . : -, e.g. `openssl rand -base64 48`). Null: `/{name_prefix}/pseudonym-key`. Created outside Terraform so that the key never reaches the state; a host's bootstrap stops without it."
  type        = string
  default     = null

  validation {
    condition     = var.pseudonym_key_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.pseudonym_key_parameter_name))
    error_message = "pseudonym_key_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "pseudonym_key_kms_key_arn" {
  description = "KMS key that encrypts the pseudonym-key parameter, when it is neither `kms_key_arn` nor the AWS-managed aws/ssm key. Null: the parameter uses one of those two."
  type        = string
  default     = null

  validation {
    condition     = var.pseudonym_key_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.pseudonym_key_kms_key_arn))
    error_message = "pseudonym_key_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# Monitoring: the metrics collector (Prometheus agent) on each host
################################################################################

variable "amp_remote_write" {
  description = "Amazon Managed Service for Prometheus workspace the hosts' metrics collector remote-writes to: its ARN (the instance role gets `aps:RemoteWrite` on it alone; in asg mode the alarm topic's policy lets its alert manager publish) and its remote-write URL (`{prometheus_endpoint}api/v1/remote_write`); modules/monitoring's `remote_write` output. Null: no collector, no metrics-key parameter, no Managed Prometheus permission."
  type = object({
    workspace_arn = string
    url           = string
  })
  default = null

  validation {
    condition     = var.amp_remote_write == null || (can(regex("^arn:aws[a-z-]*:aps:[a-z0-9-]+:[0-9]{12}:workspace/ws-[A-Za-z0-9-]+$", var.amp_remote_write.workspace_arn)) && can(regex("^https://[^/]+/workspaces/ws-[A-Za-z0-9-]+/api/v1/remote_write$", var.amp_remote_write.url)))
    error_message = "amp_remote_write must be null or an object with workspace_arn (arn:aws:aps:REGION:ACCOUNT:workspace/ws-...) and url (https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-.../api/v1/remote_write)."
  }
}

variable "metrics_key_parameter_name" {
  description = "Name of the SSM SecureString parameter holding the collector's scrape key: an API key of the `metrics` scope alone (`creditscore apikey new --scope metrics --name prometheus`; its entry must be in the API-keys parameter), which the collector sends as `Authorization: Bearer` to /metrics. Null: `/{name_prefix}/metrics-key`. Created outside Terraform so that the key never reaches the state; read only when `amp_remote_write` is set. The collector refuses a key whose entry grants any other scope."
  type        = string
  default     = null

  validation {
    condition     = var.metrics_key_parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+$", var.metrics_key_parameter_name))
    error_message = "metrics_key_parameter_name must be a hierarchical SSM parameter name starting with /."
  }
}

variable "metrics_key_kms_key_arn" {
  description = "KMS key that encrypts the metrics-key parameter, when it is neither `kms_key_arn` nor the AWS-managed aws/ssm key. Null: the parameter uses one of those two."
  type        = string
  default     = null

  validation {
    condition     = var.metrics_key_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.metrics_key_kms_key_arn))
    error_message = "metrics_key_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "prometheus_version" {
  description = "Version of Prometheus (linux-amd64 release) the hosts run in agent mode as the metrics collector. Change it together with `prometheus_sha256`."
  type        = string
  default     = "3.4.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.prometheus_version))
    error_message = "prometheus_version must be a release version such as 3.4.1."
  }
}

variable "prometheus_sha256" {
  description = "sha256 (hex) of `prometheus-{prometheus_version}.linux-amd64.tar.gz`, from the release's sha256sums.txt: the hosts refuse a download that differs and run nothing from it."
  type        = string
  default     = "09203151c132f36b004615de1a3dea22117ad17e6d7a59962e34f3abf328f312"

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.prometheus_sha256))
    error_message = "prometheus_sha256 must be 64 lowercase hex digits."
  }
}

variable "prometheus_download_url" {
  description = "Where the hosts download the Prometheus release tarball (an HTTPS mirror, e.g. an internal artifact repository). Null: its GitHub release, `https://github.com/prometheus/prometheus/releases/download/v{prometheus_version}/prometheus-{prometheus_version}.linux-amd64.tar.gz`. Whatever the source, the file must have `prometheus_sha256`."
  type        = string
  default     = null

  validation {
    condition     = var.prometheus_download_url == null || can(regex("^https://", var.prometheus_download_url))
    error_message = "prometheus_download_url must be an https:// URL."
  }
}

variable "shutdown_seconds" {
  description = "CREDITSCORE_SHUTDOWN_SECONDS: how long in-flight requests may take after SIGTERM. systemd waits 15 s more before SIGKILL; the target group's deregistration delay equals it."
  type        = number
  default     = 30

  validation {
    condition     = var.shutdown_seconds >= 1 && var.shutdown_seconds <= 600
    error_message = "shutdown_seconds must be from 1 to 600."
  }
}

variable "extra_settings" {
  description = "Further CREDITSCORE_* settings written to /etc/creditscore.env (for example CREDITSCORE_EXISTING_CUSTOMER_MODELS). They override the module's own, except CREDITSCORE_API_KEYS and CREDITSCORE_PSEUDONYM_KEY, which only their SSM parameters set."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.extra_settings :
      can(regex("^CREDITSCORE_[A-Z0-9_]+$", k)) && !contains(["CREDITSCORE_API_KEYS", "CREDITSCORE_PSEUDONYM_KEY"], k) && !can(regex("[\\n\\r]", v))
    ])
    error_message = "extra_settings keys must be CREDITSCORE_* names other than CREDITSCORE_API_KEYS and CREDITSCORE_PSEUDONYM_KEY (secrets, from SSM only), and values must be single lines."
  }
}

variable "liveness_interval_seconds" {
  description = "Seconds between two probes of the hosts' liveness watchdog (a systemd timer running GET http://127.0.0.1:{service_port}/health)."
  type        = number
  default     = 10

  validation {
    condition     = var.liveness_interval_seconds >= 5 && var.liveness_interval_seconds <= 300 && floor(var.liveness_interval_seconds) == var.liveness_interval_seconds
    error_message = "liveness_interval_seconds must be a whole number from 5 to 300."
  }
}

variable "liveness_failure_threshold" {
  description = "Failed /health probes in a row after which a host counts as broken: asg mode marks it Unhealthy (`aws autoscaling set-instance-health`) and the group replaces it; single mode restarts the service."
  type        = number
  default     = 6

  validation {
    condition     = var.liveness_failure_threshold >= 2 && var.liveness_failure_threshold <= 100 && floor(var.liveness_failure_threshold) == var.liveness_failure_threshold
    error_message = "liveness_failure_threshold must be a whole number from 2 to 100."
  }
}

variable "liveness_startup_seconds" {
  description = "Seconds after each (re)start of the service during which the watchdog does not count failed probes: the workers load the models before they answer."
  type        = number
  default     = 300

  validation {
    condition     = var.liveness_startup_seconds >= 0 && var.liveness_startup_seconds <= 3600
    error_message = "liveness_startup_seconds must be from 0 to 3600."
  }
}

variable "log_retention_days" {
  description = "Days the service's CloudWatch log group keeps events. One of the values CloudWatch Logs accepts."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# asg mode
################################################################################

variable "min_size" {
  description = "Minimum number of hosts in the Auto Scaling group (asg mode)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 0
    error_message = "min_size must not be negative."
  }
}

variable "max_size" {
  description = "Maximum number of hosts in the Auto Scaling group (asg mode)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "desired_capacity" {
  description = "Hosts at creation (asg mode); afterwards the scaling policy owns it and Terraform ignores changes to it."
  type        = number
  default     = 2
}

variable "health_check_grace_period" {
  description = "Seconds after a host enters service before the group acts on its health (asg mode): EC2 status checks and the watchdog's set-instance-health, which respects it. The launch hook already holds a host out of service until its service answers, so this only covers the first minutes in service."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period >= 0 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be from 0 to 7200."
  }
}

variable "launch_timeout_seconds" {
  description = "Seconds a new host may take, from launch to its service answering /health, before the group abandons it (asg mode: heartbeat timeout of the launch lifecycle hook, default result ABANDON): boot, dnf, the hash-checked pip install and the model load."
  type        = number
  default     = 900

  validation {
    condition     = var.launch_timeout_seconds >= 300 && var.launch_timeout_seconds <= 7200
    error_message = "launch_timeout_seconds must be from 300 to 7200."
  }
}

variable "instance_warmup_seconds" {
  description = "Seconds after a host enters service before it counts for scaling metrics and instance refreshes (asg mode, the group's default instance warmup): enough for the target group to see /ready answer (healthy threshold x interval = 30 s)."
  type        = number
  default     = 60

  validation {
    condition     = var.instance_warmup_seconds >= 0 && var.instance_warmup_seconds <= 3600
    error_message = "instance_warmup_seconds must be from 0 to 3600."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the group's target-tracking policy (asg mode)."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent > 0 && var.cpu_target_percent < 100
    error_message = "cpu_target_percent must be between 0 and 100."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the ALB's HTTPS listener. Required in asg mode."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:(acm|iam):", var.certificate_arn))
    error_message = "certificate_arn must be an ACM (or IAM server) certificate ARN."
  }
}

variable "ssl_policy" {
  description = "Security policy of the HTTPS listener: a TLS 1.2+ or TLS 1.3 ELB policy."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]-|TLS-1-2-|FS-1-2-)", var.ssl_policy))
    error_message = "ssl_policy must be a TLS 1.2+ policy: ELBSecurityPolicy-TLS13-1-2-*, ELBSecurityPolicy-TLS13-1-3-*, ELBSecurityPolicy-TLS-1-2-* or ELBSecurityPolicy-FS-1-2-*."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the ALB (asg mode)."
  type        = bool
  default     = true
}

variable "alb_idle_timeout" {
  description = "Idle timeout of the ALB in seconds (asg mode)."
  type        = number
  default     = 60
}

variable "access_logs_bucket" {
  description = "Bucket for the ALB's access logs (asg mode); its policy must allow the ELB log delivery. Null: no access logs."
  type        = string
  default     = null
}

variable "access_logs_prefix" {
  description = "Key prefix of the ALB's access logs. Null: `name_prefix`."
  type        = string
  default     = null
}

variable "web_acl_arn" {
  description = "WAFv2 web ACL (REGIONAL) to associate with the ALB (asg mode). Null: none."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (asg mode). Null: no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

variable "alarm_5xx_count_threshold" {
  description = "Alarm when the ALB itself answers more than this many 5xx in 5 minutes (asg mode)."
  type        = number
  default     = 10
}

variable "alarm_5xx_rate_percent" {
  description = "Alarm when more than this percentage of requests get a 5xx (ALB or target) over 5 minutes, for 2 periods (asg mode)."
  type        = number
  default     = 5
}

variable "alarm_p99_latency_seconds" {
  description = "Alarm when the targets' p99 response time exceeds this many seconds for 3 one-minute periods (asg mode)."
  type        = number
  default     = 1
}
