// Placeholder: replaced by the CLI entry point.
int main() { return 0; }
