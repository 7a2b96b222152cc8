namespace IfApi;

/// <summary>
/// The content root: where the service reads its appsettings.json, and what a relative path in its
/// settings (the SQLite file, <c>Data Source=data/ifapi.db</c>) is relative to. The host's default is
/// the current folder, so <c>dotnet /opt/ifapi/IfApi.dll</c> started from anywhere else read no
/// appsettings.json at all, without a word. The content root is the folder the service's files are in
/// instead, unless the host is told one (<c>--contentRoot</c>, <c>ASPNETCORE_CONTENTROOT</c>,
/// <c>DOTNET_CONTENTROOT</c>): <c>dotnet run</c> tells it the project folder (see IfApi.csproj), and so
/// does WebApplicationFactory.
/// </summary>
internal static class ContentRoot
{
    public static WebApplicationOptions Options(string[] args) => new()
    {
        Args = args,
        ContentRootPath = Told(args) ? null : Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory),
    };

    /// <summary>Whether the host will find a content root where it looks for one: the command line and its two environment prefixes.</summary>
    private static bool Told(string[] args) =>
        new ConfigurationBuilder().AddEnvironmentVariables("DOTNET_").AddEnvironmentVariables("ASPNETCORE_").AddCommandLine(args).Build()
            [HostDefaults.ContentRootKey] is { Length: > 0 };
}
