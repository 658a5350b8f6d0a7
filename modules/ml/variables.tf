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

variable "tags" {
  description = "Tags applied to every taggable resource of the module."
  type        = map(string)
  default     = {}
}

################################################################################
# Data resources (from modules/data)
################################################################################

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key of the data: the buckets' SSE-KMS key, and the key of the Glue security configuration, the log groups, the code objects and the training volumes/outputs. Its key policy must let CloudWatch Logs use it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "raw_bucket" {
  description = "Name of the raw bucket (`{source}/ingest_date=YYYY-MM-DD/{file}.csv`); its EventBridge notifications must be on for the event trigger."
  type        = string
}

variable "raw_bucket_arn" {
  description = "ARN of the raw bucket; the Glue ETL job may read it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.raw_bucket_arn))
    error_message = "raw_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "cleaned_bucket" {
  description = "Name of the cleaned bucket (features, identity, transactions, quarantine, reports)."
  type        = string
}

variable "cleaned_bucket_arn" {
  description = "ARN of the cleaned bucket; the Glue jobs may read and write it, training may read it, the retraining state machine may read its `snapshots/latest.json`."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.cleaned_bucket_arn))
    error_message = "cleaned_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "models_bucket" {
  description = "Name of the models bucket: receives the training outputs under `training_output_prefix` and what the retraining jobs publish (`{model}/{version}/...`, `{model}/current.json`) for the models of `retraining_models`: the SageMaker role's only writes."
  type        = string
}

variable "models_bucket_arn" {
  description = "ARN of the models bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.models_bucket_arn))
    error_message = "models_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "artifacts_bucket" {
  description = "Name of the artifacts bucket (modules/data `artifacts_bucket`): receives the Glue code under `code_prefix` and holds the training source at `training_source_key`. The module's roles may read their own objects there and are explicitly denied every write; it must be none of the raw, cleaned and models buckets."
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

variable "customers_table_name" {
  description = "Name of the customers DynamoDB table (modules/data `customers_table_name`): the load job's --CUSTOMERS_TABLE."
  type        = string
}

variable "customers_table_arn" {
  description = "ARN of the customers table (modules/data `customers_table_arn`): the Glue role may update, put, delete, condition-check and scan its items (the load's transactions and count) and describe it; nothing else of DynamoDB."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]+$", var.customers_table_arn))
    error_message = "customers_table_arn must be a DynamoDB table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic (modules/compute `alarm_topic_arn`, encrypted with kms_key_arn) that a failed or gated retraining run notifies: each failed model's message, and the state machine's failed-executions alarm. Null (compute's single mode): no notification, the alarm still changes state."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or null."
  }
}

################################################################################
# Glue ETL and load
################################################################################

variable "glue_script_path" {
  description = "Local path of the Glue entry point, `etl/glue_job.py` (environments pass \"$${path.root}/../../etl/glue_job.py\"). Uploaded to `s3://{artifacts_bucket}/{code_prefix}glue_job.py`."
  type        = string

  validation {
    condition     = endswith(var.glue_script_path, ".py")
    error_message = "glue_script_path must name a .py file."
  }
}

variable "glue_load_script_path" {
  description = "Local path of the load job's entry point, `etl/glue_load_job.py` (environments pass \"$${path.root}/../../etl/glue_load_job.py\"). Uploaded to `s3://{artifacts_bucket}/{code_prefix}glue_load_job.py`."
  type        = string

  validation {
    condition     = endswith(var.glue_load_script_path, ".py")
    error_message = "glue_load_script_path must name a .py file."
  }
}

variable "glue_libs_path" {
  description = "Local path of a zip of the `etl` and `creditscore` packages, built outside Terraform; uploaded beside the scripts and passed to both jobs as --extra-py-files."
  type        = string

  validation {
    condition     = endswith(var.glue_libs_path, ".zip")
    error_message = "glue_libs_path must name a .zip file."
  }
}

variable "code_prefix" {
  description = "Key prefix of the Glue code in the artifacts bucket (ends with /); the Glue role may read only this prefix."
  type        = string
  default     = "glue/"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$", var.code_prefix))
    error_message = "code_prefix must be an S3 key prefix without a leading slash and ending with /, for example glue/."
  }
}

variable "glue_worker_type" {
  description = "Worker type of the Glue ETL job (the load job runs on two G.1X workers)."
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.glue_worker_type)
    error_message = "glue_worker_type must be G.1X, G.2X, G.4X or G.8X."
  }
}

variable "glue_number_of_workers" {
  description = "Number of workers of the Glue ETL job (at least 2: a driver and an executor)."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_number_of_workers >= 2 && floor(var.glue_number_of_workers) == var.glue_number_of_workers
    error_message = "glue_number_of_workers must be a whole number of at least 2."
  }
}

variable "glue_timeout_minutes" {
  description = "Minutes a Glue job run (ETL or load) may take before it is stopped."
  type        = number
  default     = 60

  validation {
    condition     = var.glue_timeout_minutes >= 1 && var.glue_timeout_minutes <= 2880
    error_message = "glue_timeout_minutes must be from 1 to 2880."
  }
}

variable "glue_max_retries" {
  description = "Retries of a failed Glue job run (ETL or load)."
  type        = number
  default     = 0

  validation {
    condition     = var.glue_max_retries >= 0 && var.glue_max_retries <= 10
    error_message = "glue_max_retries must be from 0 to 10."
  }
}

variable "glue_additional_python_modules" {
  description = "pip requirements Glue installs before a run of either job (--additional-python-modules), for dependencies of the libs zip that Glue 5.0 lacks: the load's structlog and tqdm, at the versions of constraints.txt (tests/test_terraform.py holds them equal)."
  type        = list(string)
  default     = ["structlog==25.4.0", "tqdm==4.67.1"]
}

variable "glue_extra_arguments" {
  description = "Further default arguments of the ETL job, merged over the module's (for example {\"--INGEST_DATE\" = \"2025-06-01\"} or {\"--SNAPSHOT\" = ...}). The load job takes none of them: it loads the newest complete snapshot."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.glue_extra_arguments) : startswith(k, "--")])
    error_message = "glue_extra_arguments keys must start with --."
  }
}

variable "create_catalog_database" {
  description = "Create a Glue Data Catalog database named after the prefix (hyphens become underscores), for crawlers or Athena over the cleaned bucket."
  type        = bool
  default     = true
}

################################################################################
# Score-book job: batch scoring on Spark, started on demand
################################################################################

variable "score_script_path" {
  description = "Local path of the score-book job's entry point, `training/batch/glue_score_job.py` (environments pass \"$${path.root}/../../training/batch/glue_score_job.py\"). Uploaded to `s3://{artifacts_bucket}/{code_prefix}glue_score_job.py`."
  type        = string

  validation {
    condition     = endswith(var.score_script_path, ".py")
    error_message = "score_script_path must name a .py file."
  }
}

variable "score_wheel_path" {
  description = "Local path of the creditscore wheel `make dist` builds (environments pass the one in dist/). Uploaded beside the scripts; the score-book job installs it through --additional-python-modules, so its entry points register the scorers."
  type        = string

  validation {
    condition     = can(regex("(^|/)creditscore-[0-9][^/]*-py3-none-any\\.whl$", var.score_wheel_path))
    error_message = "score_wheel_path must name a creditscore-VERSION-py3-none-any.whl file."
  }
}

variable "score_additional_python_modules" {
  description = "pip requirements the score-book job installs besides the wheel (whose own dependencies come pinned in it): what scoring imports beyond the wheel's base install and Glue 5.0's PySpark, at the versions of constraints.txt (tests/test_terraform.py holds them equal)."
  type        = list(string)
  default     = ["pandas==2.3.3", "pyarrow==21.0.0", "tqdm==4.67.1"]

  validation {
    condition     = alltrue([for r in var.score_additional_python_modules : can(regex("^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+$", r))])
    error_message = "score_additional_python_modules must be exact pins, NAME==VERSION."
  }
}

variable "score_torch_index_url" {
  description = "Extra package index the score-book job's pip reads (--python-modules-installer-option), for torch's CPU build: PyPI's torch is the CUDA one, gigabytes Glue would install for nothing."
  type        = string
  default     = "https://download.pytorch.org/whl/cpu"

  validation {
    condition     = startswith(var.score_torch_index_url, "https://")
    error_message = "score_torch_index_url must be an https:// URL."
  }
}

variable "score_input_prefix" {
  description = "Key prefix in the cleaned bucket under which operators put the books to score (ends with /); the score-book role may read only this prefix of it."
  type        = string
  default     = "books/"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/$", var.score_input_prefix))
    error_message = "score_input_prefix must be an S3 key prefix without a leading slash and ending with /, for example books/."
  }
}

variable "score_output_prefix" {
  description = "Key prefix in the cleaned bucket under which the score-book job writes scores and rejects (ends with /); the only prefix its role may write."
  type        = string
  default     = "scores/"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/$", var.score_output_prefix))
    error_message = "score_output_prefix must be an S3 key prefix without a leading slash and ending with /, for example scores/."
  }
}

variable "score_worker_type" {
  description = "Worker type of the score-book job."
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.score_worker_type)
    error_message = "score_worker_type must be G.1X, G.2X, G.4X or G.8X."
  }
}

variable "score_number_of_workers" {
  description = "Number of workers of the score-book job (at least 2: a driver and an executor); more for a larger book."
  type        = number
  default     = 2

  validation {
    condition     = var.score_number_of_workers >= 2 && floor(var.score_number_of_workers) == var.score_number_of_workers
    error_message = "score_number_of_workers must be a whole number of at least 2."
  }
}

variable "score_max_concurrent_runs" {
  description = "Runs of the score-book job at a time (each writes its own --OUTPUT; two runs given the same one would replace each other's parts)."
  type        = number
  default     = 1

  validation {
    condition     = var.score_max_concurrent_runs >= 1 && var.score_max_concurrent_runs <= 10 && floor(var.score_max_concurrent_runs) == var.score_max_concurrent_runs
    error_message = "score_max_concurrent_runs must be a whole number from 1 to 10."
  }
}

################################################################################
# Event trigger: raw objects -> EventBridge -> Glue workflow -> ETL job -> load job
################################################################################

variable "enable_event_trigger" {
  description = "Start the ETL when raw objects land: an EventBridge rule on the raw bucket's Object Created events notifies a Glue workflow whose EVENT trigger starts the ETL job, and whose CONDITIONAL trigger starts the load job once the ETL has succeeded. Needs EventBridge notifications on the raw bucket."
  type        = bool
  default     = true
}

variable "raw_event_key_prefixes" {
  description = "Key prefixes of the raw objects whose creation counts as an event: one per ETL source."
  type        = list(string)
  default     = ["customers/", "transactions/", "social/"]

  validation {
    condition     = length(var.raw_event_key_prefixes) >= 1
    error_message = "raw_event_key_prefixes must hold at least one prefix."
  }
}

variable "event_batch_size" {
  description = "Events the Glue trigger waits for before starting a run (3: the three source files of one ingest)."
  type        = number
  default     = 3

  validation {
    condition     = var.event_batch_size >= 1 && var.event_batch_size <= 100
    error_message = "event_batch_size must be from 1 to 100."
  }
}

variable "event_batch_window_seconds" {
  description = "Seconds after the first event at which the trigger starts a run even if fewer than event_batch_size events came."
  type        = number
  default     = 900

  validation {
    condition     = var.event_batch_window_seconds >= 1 && var.event_batch_window_seconds <= 900
    error_message = "event_batch_window_seconds must be from 1 to 900."
  }
}

################################################################################
# Logs
################################################################################

variable "log_retention_days" {
  description = "Days the module's CloudWatch log groups keep events. One of the values CloudWatch Logs accepts."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# SageMaker training and retraining (Step Functions, its triggers)
################################################################################

variable "training_image_uri" {
  description = "ECR URI of the training image (a SageMaker framework image with Python 3.11, e.g. PyTorch training). Retraining exists only when it is set: the state machine, its new-snapshot rule, its alarm and (when enable_retraining_schedule) its schedule. An image in this account's ECR: the SageMaker role may pull from its repository only. An image in another account (SageMaker's prebuilt images, pulled with SageMaker's own credentials): no ECR grant. Null: no retraining; the SageMaker role may pull from this account's repositories in the region."
  type        = string
  default     = null

  validation {
    condition     = var.training_image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.training_image_uri))
    error_message = "training_image_uri must be an ECR image URI: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG (or @sha256:DIGEST)."
  }
}

variable "retrain_on_new_snapshot" {
  description = "Retrain when the load job succeeds (an EventBridge rule on its Glue Job State Change SUCCEEDED starts the state machine). Acts only when training_image_uri is set."
  type        = bool
  default     = true
}

variable "enable_retraining_schedule" {
  description = "Also retrain on a schedule: one EventBridge Scheduler schedule that starts the state machine (every model of `retraining_models`, on the newest loaded snapshot). Needs training_image_uri."
  type        = bool
  default     = false
}

variable "retraining_schedule_expression" {
  description = "When scheduled retraining runs: an EventBridge Scheduler cron() or rate() expression."
  type        = string
  default     = "cron(0 3 ? * MON *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.retraining_schedule_expression))
    error_message = "retraining_schedule_expression must be cron(...) or rate(...)."
  }
}

variable "retraining_schedule_timezone" {
  description = "Time zone of the cron expression."
  type        = string
  default     = "UTC"
}

variable "retraining_models" {
  description = "Scorers each retraining run trains and publishes, one training job each (the `model` hyperparameter); the SageMaker role may publish to these models' folders of the models bucket only."
  type        = list(string)
  default     = ["xgboost-new-customer", "pytorch-traditional", "extratrees-social"]

  validation {
    condition     = length(var.retraining_models) >= 1 && alltrue([for m in var.retraining_models : can(regex("^[a-z0-9][a-z0-9-]{0,47}$", m))])
    error_message = "retraining_models must hold at least one scorer name: lowercase letters, digits and hyphens, at most 48 characters."
  }
}

variable "retraining_publish" {
  description = "What each retraining job does with a version the registry's quality gate lets in: `challenger` makes it the model's shadow challenger (the `publish` hyperparameter `challenger`, as `creditscore train --publish --as-challenger`), scored beside every request while the current version keeps deciding, until someone reads `creditscore models compare` and promotes it (`creditscore models challenge MODEL --promote`); `current` makes it current at once (`publish` = `true`). A model with no current version yet gets it as current either way."
  type        = string
  default     = "challenger"

  validation {
    condition     = contains(["challenger", "current"], var.retraining_publish)
    error_message = "retraining_publish must be challenger or current."
  }
}

variable "training_source_key" {
  description = "Key in the artifacts bucket of the script-mode source tarball (the project, with a requirements.txt or setup that installs it), passed as sagemaker_submit_directory; the SageMaker role may read this one object."
  type        = string
  default     = "training/sourcedir.tar.gz"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*[^/]$", var.training_source_key))
    error_message = "training_source_key must be an S3 object key without a leading or trailing slash."
  }
}

variable "training_entry_point" {
  description = "Script-mode entry point inside the source tarball (sagemaker_program): `make dist`'s train.py runs training.sagemaker of the installed wheel."
  type        = string
  default     = "train.py"
}

variable "training_source_path" {
  description = "Local path of the script-mode source tarball (`make dist`'s dist/training-source.tar.gz: the wheel, train.py and the hashed requirements of creditscore[train]), uploaded to training_source_key. Null: the object is put there otherwise."
  type        = string
  default     = null

  validation {
    condition     = var.training_source_path == null || endswith(coalesce(var.training_source_path, "x"), ".tar.gz")
    error_message = "training_source_path must name a .tar.gz file."
  }
}

variable "training_hyperparameters" {
  description = "Further hyperparameters of every retraining job (string values; `params` a JSON object string), merged over the module's (`publish`, `sagemaker_*`). `model` is each job's own."
  type        = map(string)
  default     = {}

  validation {
    condition     = !contains(keys(var.training_hyperparameters), "model") && alltrue([for k in keys(var.training_hyperparameters) : !endswith(k, ".$")])
    error_message = "training_hyperparameters may not set model (each job's own) nor a key ending with .$ (a Step Functions path)."
  }
}

variable "training_environment" {
  description = "Further environment variables of the training container (CREDITSCORE_* settings such as the score scaling), merged over the module's (the region, the models and cleaned buckets, real AWS)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.training_environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "training_environment keys must be environment variable names."
  }
}

variable "training_output_prefix" {
  description = "Key prefix in the models bucket of the training jobs' outputs (`{prefix}{model}/{job}/output/model.tar.gz`)."
  type        = string
  default     = "training-jobs/"

  validation {
    condition     = can(regex("^[^/].*/$", var.training_output_prefix))
    error_message = "training_output_prefix must be a key prefix without a leading slash, ending with /."
  }
}

variable "training_instance_type" {
  description = "SageMaker instance type of the training jobs."
  type        = string
  default     = "ml.m5.xlarge"

  validation {
    condition     = startswith(var.training_instance_type, "ml.")
    error_message = "training_instance_type must be a SageMaker instance type (ml.*)."
  }
}

variable "training_volume_size_gb" {
  description = "Size in GB of each training job's (KMS-encrypted) storage volume."
  type        = number
  default     = 30
}

variable "training_max_runtime_seconds" {
  description = "Seconds a training job may run before SageMaker stops it."
  type        = number
  default     = 7200
}
