# want: Argument or block definition required
network "corp" {
  cidrs ["10.0.0.0/8"]
}
