using System.Security.Claims;
using System.Text.Encodings.Web;
using IfApi.Domain;
using IfApi.Store;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;

namespace IfApi.Auth;

/// <summary>
/// API keys with scopes (<c>Auth:Keys</c>): the service's <c>priv_check</c>. Every endpoint states the
/// scope it needs with <see cref="RequireScope{TBuilder}"/>; one that states nothing needs <c>read</c>.
/// No or an unknown key is 401 (<c>ENEEDAUTH</c>, <c>EAUTH</c>), a key without the scope 403 <c>EPERM</c>.
/// </summary>
public static class AuthSetup
{
    internal const string Scheme = "ApiKey";

    /// <summary>The query parameter a browser passes its key in, where it cannot set a header.</summary>
    public const string AccessTokenParameter = "access_token";

    /// <summary>Whether a request of <paramref name="method"/> may bring its key as <see cref="AccessTokenParameter"/>: a GET (a WebSocket, an EventSource).</summary>
    public static bool TakesAccessToken(string method) => HttpMethods.IsGet(method);

    public static WebApplicationBuilder AddIfAuth(this WebApplicationBuilder builder)
    {
        AddApiKeys(builder.Services);
        builder.Services.AddSingleton<KeyTickets>();
        // Where the server may listen is decided before it is built: by whether any key is named. The
        // keys are checked at start-up, and one named that cannot work stops it.
        var open = !builder.Configuration.GetSection($"{AuthOptions.Section}:{nameof(AuthOptions.Keys)}").GetChildren().Any();
        if (open && !StoreHosting.GeneratingDocument)
            LoopbackOnly.Restrict(builder);
        else
        {
            // ASP.NET Core's own request lines carry the query, and with it a browser's ?access_token=:
            // they stay off whatever the logging configuration says (this rule comes last, so it wins).
            // RequestLog writes the service's own lines, paths only.
            builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        }
        builder.Services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(Scheme, null);
        WithoutDataProtectionWarmUp(builder.Services);
        var authorization = builder.Services.AddAuthorizationBuilder();
        foreach (var scope in new[] { Scopes.Read, Scopes.Write, Scopes.Admin, Scopes.Tap })
            authorization.AddPolicy(ScopeNames.Of(scope), p => p.AddRequirements(new ScopeRequirement(scope)));
        authorization.SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new ScopeRequirement(Scopes.Read)).Build());
        builder.Services.AddSingleton<IAuthorizationHandler, ScopeRequirementHandler>();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, ScopeRefusal>();
        return builder;
    }

    /// <summary><c>Auth:Keys</c>, checked at start-up, and the ring of keys made of them.</summary>
    internal static IServiceCollection AddApiKeys(IServiceCollection services)
    {
        services.AddSettings<AuthOptions, AuthOptionsValidation>(AuthOptions.Section);
        services.AddSingleton(sp => ApiKeyRing.From(sp.GetRequiredService<IOptions<AuthOptions>>().Value));
        return services;
    }

    /// <summary>
    /// Authentication brings ASP.NET Core's data protection, whose hosted service loads its key ring
    /// at start-up: it reads, or creates and writes, XML key files under the home directory. Bearer
    /// keys never protect anything, so the ring would load on a first use that never comes; without
    /// the warm-up, start-up writes nothing to disk and compiles no key-ring code (about 4 MB of an
    /// idle service's resident set).
    /// </summary>
    internal static void WithoutDataProtectionWarmUp(IServiceCollection services)
    {
        foreach (var warmUp in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.FullName == DataProtectionWarmUp).ToList())
            services.Remove(warmUp);
    }

    internal const string DataProtectionWarmUp = "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService";

    public static WebApplication UseIfAuth(this WebApplication app)
    {
        var ring = app.Services.GetRequiredService<ApiKeyRing>();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("IfApi.Auth");
        if (!StoreHosting.GeneratingDocument)
            app.Lifetime.ApplicationStarted.Register(() => Announce(app, ring, log));
        app.UseAuthentication();
        app.Use(async (http, next) =>
        {
            // The log has the key's name from here on, refusals included.
            if (Actor.Of(http) is { } name)
                Observability.RequestLog.NoteKey(http, name);
            await next(http);
        });
        app.UseAuthorization();
        return app;
    }

    /// <summary>Whether the caller's key (in open mode, anyone on this host) has <paramref name="scope"/>.</summary>
    public static bool Grants(ClaimsPrincipal user, Scopes scope) => user.Identity is KeyIdentity identity && (identity.Scopes & scope) == scope;

    /// <summary>The scope an endpoint needs; see <see cref="Scopes"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder endpoints, Scopes scope) where TBuilder : IEndpointConventionBuilder =>
        endpoints.RequireAuthorization(ScopeNames.Of(scope));

    private static void Announce(WebApplication app, ApiKeyRing ring, ILogger log)
    {
        if (!ring.Open)
        {
            log.LogInformation("API keys: {Keys}", string.Join(", ", ring.Keys));
            return;
        }
        var addresses = LoopbackOnly.Addresses(app);
        log.LogWarning("No API keys are configured (Auth:Keys): the service is open to every caller and listens on loopback only ({Addresses})",
            string.Join(", ", addresses));
        if (addresses.FirstOrDefault(a => !LoopbackOnly.IsLoopbackUrl(a)) is { } exposed)
        {
            log.LogCritical("No API keys are configured but the server listens on {Address}; stopping", exposed);
            app.Lifetime.StopApplication();
        }
    }
}

/// <summary>The caller a key names; in open mode, anyone on this host with every scope.</summary>
/// <summary>Who makes a request's changes: its API key's name, which the use cases write into every event they announce.</summary>
public static class Actor
{
    /// <summary>The key's name; null when the service is open (no keys).</summary>
    public static string? Of(HttpContext http) => http.User.Identity is KeyIdentity { Key: { } key } ? key.Name : null;
}

internal sealed class KeyIdentity(ApiKey? key, Scopes scopes)
    : ClaimsIdentity([new Claim(ClaimTypes.Name, key?.Name ?? "open")], AuthSetup.Scheme)
{
    public ApiKey? Key { get; } = key;
    public Scopes Scopes { get; } = scopes;
}

/// <summary>Reads <c>Authorization: Bearer</c>, or <c>access_token</c> on a GET (browsers cannot set headers on a WebSocket or an EventSource).</summary>
internal sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logs, UrlEncoder encoder,
    ApiKeyRing ring, KeyTickets tickets, IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logs, encoder)
{
    private const string BadKey = "ifapi.auth.bad-key";
    private const string NotLocal = "ifapi.auth.not-local";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ring.Open)
        {
            if (LoopbackOnly.IsLocal(Context.Connection))
                return Task.FromResult(tickets.Open);
            Context.Items[NotLocal] = true;
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var secret = Presented(Request);
        if (secret is null)
            return Task.FromResult(AuthenticateResult.NoResult());
        if (ring.Match(secret) is { } key)
            return Task.FromResult(tickets[key]);
        Context.Items[BadKey] = true;
        return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
    }

    private static string? Presented(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length > 0)
            return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : header; // any other scheme is a bad key
        return AuthSetup.TakesAccessToken(request.Method) && request.Query.TryGetValue(AuthSetup.AccessTokenParameter, out var token) ? token.ToString() : null;
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var bad = Context.Items.ContainsKey(BadKey);
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = bad ? "Bearer realm=\"ifapi\", error=\"invalid_token\"" : "Bearer realm=\"ifapi\"";
        var problem = Problems.Problems.For(bad ? Errno.EAUTH : Errno.ENEEDAUTH,
            bad ? "the API key is not known"
            : Context.Items.ContainsKey(NotLocal) ? "this service has no API keys (Auth:Keys), so it answers on loopback only"
            : "an API key is needed: Authorization: Bearer <secret>", null);
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = Context, ProblemDetails = problem });
    }
}

/// <summary>One ticket per key, built once: a request costs a hash and a few compares, not a principal.</summary>
internal sealed class KeyTickets(ApiKeyRing ring)
{
    private readonly Dictionary<ApiKey, AuthenticateResult> _tickets = ring.Keys.ToDictionary(k => k, k => Ticket(k, k.Scopes));

    public AuthenticateResult Open { get; } = Ticket(null, Scopes.All);

    public AuthenticateResult this[ApiKey key] => _tickets[key];

    private static AuthenticateResult Ticket(ApiKey? key, Scopes scopes) =>
        AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new KeyIdentity(key, scopes)), AuthSetup.Scheme));
}

internal sealed record ScopeRequirement(Scopes Scope) : IAuthorizationRequirement;

internal sealed class ScopeRequirementHandler : AuthorizationHandler<ScopeRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (AuthSetup.Grants(context.User, requirement.Scope))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>Answers a refused request as the rest of the service answers: problem+json with an errno.</summary>
internal sealed class ScopeRefusal(IProblemDetailsService problems) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext http, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (!result.Forbidden)
        {
            await _default.HandleAsync(next, http, policy, result);
            return;
        }
        var needed = policy.Requirements.OfType<ScopeRequirement>().Select(r => ScopeNames.Of(r.Scope)).FirstOrDefault() ?? "?";
        var name = (http.User.Identity as KeyIdentity)?.Key?.Name ?? "?";
        http.Response.StatusCode = StatusCodes.Status403Forbidden;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = Problems.Problems.For(Errno.EPERM, $"the key '{name}' does not have the '{needed}' scope", null),
        });
    }
}
