package pluginhost

// CheckBuild exposes checkBuild to the external tests.
var CheckBuild = checkBuild
