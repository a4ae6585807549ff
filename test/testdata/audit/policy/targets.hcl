# One target of each cloud, each reading its flow logs from the local emulators the
# test points the SDKs at (AWS_ENDPOINT_URL_S3, AZURE_STORAGE_CONNECTION_STRING,
# STORAGE_EMULATOR_HOST).

target "aws" "prod-use1" {
  region = "us-east-1"
  vpc_id = "vpc-0123456789abcdef0"
  flow_logs {
    s3_uri = "s3://acme-flowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/"
  }
}

target "azure" "prod-weu" {
  subscription_id = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
  resource_group  = "rg-prod"
  location        = "westeurope"
  flow_logs {
    storage_account = "devstoreaccount1"
    container       = "insights-logs-flowlogflowevent"
  }
}

target "gcp" "prod" {
  project = "acme-prod"
  network = "prod-vpc"
  flow_logs {
    gcs_uri = "gs://acme-flow-logs/"
  }
}
