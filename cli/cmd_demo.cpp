namespace cli {
struct arguments;
int run_demo(const arguments&) {
    return 0;
}
} // namespace cli
