# want: Network without CIDRs
network "corp" { cidrs = [] }
