// Placeholder: replaced by the baseline gRPC server.
int main() { return 0; }
