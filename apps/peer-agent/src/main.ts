// The gateway agent is built in a later change; this entry point only says so.
process.stderr.write('peer-agent: not built yet\n');
