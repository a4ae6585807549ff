# want: Duplicate flow_logs block
target "gcp" "g" {
  project = "p"
  network = "n"
  flow_logs { gcs_uri = "gs://a/" }
  flow_logs { gcs_uri = "gs://b/" }
}
