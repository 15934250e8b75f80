#!/bin/sh
# Makes, under the empty directory $1, the tree that every frontend's test scans with every
# setting of every_scan_setting.json: files at several depths (one below max_depth), one to
# exclude, a hard link and a symlink to a directory.
set -eu
cd "$1"
mkdir -p a/b/c d
printf 'xxxxxx' > a/x.log
head -c 5000 /dev/zero | tr '\0' x > a/b/big.bin
head -c 300 /dev/zero | tr '\0' x > a/b/c/deep.txt
printf 'xx' > skip.tmp
ln a/b/big.bin d/link.bin
ln -s ../a/b d/sym
