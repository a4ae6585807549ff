# want: Unsupported argument
target "gcp" "g" {
  project = "p"
  network = "n"
  flow_logs { s3_uri = "s3://x/" }
}
