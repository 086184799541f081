#!/bin/bash
for t in n1:none s1:6 s2:6 n2:none n3:none s3:6; do /tmp/s/slrun.sh ${t%%:*} ${t##*:}; done
