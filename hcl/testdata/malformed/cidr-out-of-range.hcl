# want: Invalid CIDR
network "corp" { cidrs = ["10.0.0.0/33"] }
