-- Tools a person confirms before each call (ADR 0038): the edge asks through MCP elicitation before the enqueue.
ALTER TABLE "mcp_servers" ADD COLUMN     "confirm_tools" TEXT[] DEFAULT ARRAY[]::TEXT[];
