/* crm-deals: being written */
int main(void) { return 1; }
