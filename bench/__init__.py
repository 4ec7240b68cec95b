"""The benchmark harness behind `make bench`: every figure a ratio measured side by side."""
