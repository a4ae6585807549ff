# want: Duplicate target
target "gcp" "prod" {
  project = "p"
  network = "n"
}
