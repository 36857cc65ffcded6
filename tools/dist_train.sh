#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG GPUS [train.py options]; NNODES, NODE_RANK, PORT, MASTER_ADDR as usual.
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
