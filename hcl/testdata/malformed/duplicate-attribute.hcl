# want: Attribute redefined
network "corp" {
  cidrs = ["10.0.0.0/8"]
  cidrs = ["10.1.0.0/16"]
}
