using IfApi;
using IfApi.Auth;
using IfApi.Cloners;
using IfApi.Contract;
using IfApi.Crossing;
using IfApi.Events;
using IfApi.Groups;
using IfApi.Health;
using IfApi.Interfaces;
using IfApi.Lab;
using IfApi.Observability;
using IfApi.OpenApi;
using IfApi.Problems;
using IfApi.Tap;
using IfApi.Transactions;
using IfApi.Vnets;

if (HealthProbe.Requested(args))
    return await HealthProbe.RunAsync(Environment.GetEnvironmentVariable("ASPNETCORE_URLS"));  // container health checks

var builder = WebApplication.CreateBuilder(ContentRoot.Options(args)); // the service's own folder, wherever it is started from
builder.AddIfAuth();                  // Auth:Keys and their scopes; no keys → open, on loopback only
builder.AddIfRequestLimits();         // Kestrel:Limits:MaxRequestBodySize (1 MiB)
builder.AddIfStore();                 // Database:Provider, ConnectionStrings:IfApi, Interfaces:Static
builder.AddIfTap();                   // the frame path: Tap:QueueLength
builder.AddIfFrameCrossing();
builder.AddIfVnets();                 // Vnets:MaxInterfaces         // frames between replicas through NATS: Frames:Nats:Url
builder.Services.AddIfEvents();       // the event outbox's sequencer (after the store is ready)
builder.Services.AddIfProblems();     // errno → problem+json
builder.Services.AddIfContract();     // /v1's conventions: dry runs, query parameters, transactions
builder.Services.AddIfOpenApi();      // Swagger UI and openapi/v1.json
builder.AddIfTelemetry();             // /metrics: OpenTelemetry meters, Prometheus text
builder.AddIfMemoryTrim();            // Memory:TrimWhenIdle: a burst's garbage goes back once it is over

var app = builder.Build();
app.CheckSettings();                  // a bad setting stops the start here, named by its key
app.UseIfRequestLog();                // X-Request-ID, and one log line per change with its key
app.UseIfProblems();
app.UseIfOpenApi();
app.UseIfAuth();                      // 401 ENEEDAUTH/EAUTH, 403 EPERM
app.UseIfVnets();                     // the vnet a request works in: its path's, else its key's (curvnet)
app.MapHealthApi();
app.MapLabPage();                     // / : the live picture of a vnet, for people (no key to load it)
app.MapIfMetrics();
app.UseIfTap();                       // tap devices over WebSocket
var v1 = app.MapIfV1();               // /v1: unknown query parameters refused, ?dryRun=true on every change
v1.MapVnetsApi();                     // the virtual network stacks themselves
foreach (var stack in v1.MapVnetScopes()) // /v1/… in the caller's vnet, /v1/vnets/{vnet}/… in the one named
{
    stack.MapClonersApi();
    stack.MapInterfacesApi();
    stack.MapGroupsApi();
    stack.MapEventsApi();
    stack.MapTapApi();                // tap devices, frames, bridge members
    stack.MapTransactionsApi();       // several operations, all or nothing
}

await app.RunAsync();
return 0;

/// <summary>The entry point, visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
