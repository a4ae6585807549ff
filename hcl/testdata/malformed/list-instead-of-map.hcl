# want: Wrong type
segment "api" {
  target = target.aws.prod
  members { tags = { tier = "api" } }
  labels = ["pci"]
}
