# want: Invalid target reference
segment "api" {
  target = "prod"
  members { tags = { tier = "api" } }
}
