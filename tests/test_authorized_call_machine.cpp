// placeholder
namespace test_authorized_call_machine {}
