"""The conformance kit: a catalogue of scenarios run against any server that speaks this
project's API, with emulated cards the kit issues itself (`conformance init`, `conformance
run`)."""
