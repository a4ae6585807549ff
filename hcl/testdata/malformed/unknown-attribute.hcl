# want: Unsupported argument
segment "api" {
  target = target.aws.prod
  members { tags = { tier = "api" } }
  tier = "api"
}
