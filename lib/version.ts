/** The version both binaries report. */
export const VERSION = "0.1.0";
