# want: Invalid mode
segment "api" {
  target = target.aws.prod
  members { tags = { tier = "api" } }
  mode = "audit-only"
}
