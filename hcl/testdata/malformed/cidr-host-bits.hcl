# want: Host bits set in CIDR
network "corp" { cidrs = ["10.1.2.3/16"] }
