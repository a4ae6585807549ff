# want: Variables not allowed
segment "api" {
  target = target.aws.prod
  members { tags = { tier = "api" } }
  mode = var.mode
}
